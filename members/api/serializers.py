"""Output and input pieces shared by several member and POS views."""

from django.utils import timezone
from rest_framework import serializers

from infra.api import StrictInputSerializer
from members.formats import birthday_problem
from members.models import Member, Store


class StoreBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()

    class Meta:
        ref_name = "StoreBrief"


class TierBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()

    class Meta:
        ref_name = "TierBrief"


class MemberSerializer(serializers.Serializer):
    """A member's own view of themselves (never another member's)."""

    member_number = serializers.CharField()
    status = serializers.ChoiceField(choices=Member.Status.choices)
    name = serializers.CharField()
    phone = serializers.CharField(allow_null=True)
    gender = serializers.ChoiceField(choices=Member.Gender.choices)
    birthday = serializers.DateField(allow_null=True)
    email = serializers.EmailField(allow_blank=True, help_text="Empty when the member has not given one.")
    locale = serializers.ChoiceField(choices=Member.Locale.choices)
    home_store = StoreBriefSerializer(allow_null=True)
    tier = TierBriefSerializer(allow_null=True)
    points_balance = serializers.IntegerField()
    points_pending = serializers.IntegerField()
    joined_at = serializers.DateTimeField(allow_null=True)
    consent_marketing = serializers.BooleanField()
    consent_sms = serializers.BooleanField()
    consent_email = serializers.BooleanField()
    consent_wechat = serializers.BooleanField()

    class Meta:
        ref_name = "Member"


class ProfileInputSerializer(StrictInputSerializer):
    """The fields a member may set on themselves: profile and consents (never phone, status, points, tier)."""

    name = serializers.CharField(max_length=100, allow_blank=True, required=False)
    gender = serializers.ChoiceField(choices=Member.Gender.choices, allow_blank=True, required=False)
    birthday = serializers.DateField(allow_null=True, required=False)
    email = serializers.EmailField(allow_blank=True, required=False)
    locale = serializers.ChoiceField(choices=Member.Locale.choices, required=False)
    home_store = serializers.SlugRelatedField(
        slug_field="code", queryset=Store.objects.filter(is_active=True), allow_null=True, required=False
    )
    consent_marketing = serializers.BooleanField(required=False)
    consent_sms = serializers.BooleanField(required=False)
    consent_email = serializers.BooleanField(required=False)
    consent_wechat = serializers.BooleanField(required=False)

    class Meta:
        ref_name = "ProfileInput"

    def validate_birthday(self, value):
        problem = value and birthday_problem(value, today=timezone.localdate())
        if problem:
            raise serializers.ValidationError(problem)
        return value
