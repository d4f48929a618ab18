"""Console of the channels: message templates (their preview in every language and a test send to a staff member),
the log of delivery attempts and the consent records (read-only, scoped to the staff member's store's members)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.channels.templates import placeholders_of, template_preview
from campaigns.channels.test_send import template_test_send
from campaigns.models import ConsentRecord, DeliveryAttempt, MessageTemplate
from infra.errors import LoyaltyError
from members.console import ConsoleHistoryAdmin, ConsoleModelAdmin, ReadOnlyAdminMixin, StoreScopedAdminMixin
from members.models import Member


def preview_text(rendered) -> str:
    if rendered.wechat_data is not None:
        return "\n".join(f"{keyword}: {value}" for keyword, value in rendered.wechat_data.items())
    return f"{rendered.subject}\n\n{rendered.text}" if rendered.subject else rendered.text


class TestSendForm(forms.Form):
    address = forms.CharField(
        label=_("send to"),
        max_length=254,
        help_text=_("A staff member's phone (SMS), e-mail address (e-mail) or WeChat openid (WeChat)."),
    )


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ConsoleHistoryAdmin):
    history_revert_allowed = True  # merchant texts: a revert goes through the form and its checks, like an edit
    list_display = ("kind", "channel", "locale", "is_active", "updated_at")
    list_filter = ("kind", "channel", "locale", "is_active")
    readonly_fields = ("fields_help", "previews")
    fields = (
        "kind", "channel", "locale", "is_active", "subject", "body", "wechat_template_id", "wechat_page",
        "wechat_fields", "fields_help", "previews",
    )  # fmt: skip

    @admin.display(description=_("fields"))
    def fields_help(self, obj):
        """The placeholders each kind's texts may use."""
        kinds = [(obj.kind, obj.get_kind_display())] if obj and obj.kind else MessageTemplate.kind.field.choices
        rows = [(str(label), ", ".join(f"{{{name}}}" for name in placeholders_of(kind))) for kind, label in kinds]
        return format_html_join("", "<div><b>{}</b>: {}</div>", rows)

    @admin.display(description=_("preview in every language"))
    def previews(self, obj):
        """The template of each language for this kind and channel, filled with a sample member."""
        if obj is None or obj.pk is None:
            return gettext("Save the template to see its preview.")
        siblings = {
            template.locale: template for template in MessageTemplate.objects.filter(kind=obj.kind, channel=obj.channel)
        }
        rows = []
        for locale, label in Member.Locale.choices:
            template = siblings.get(locale)
            if template is None:
                text = gettext(
                    "No template in this language: WeChat sends nothing, SMS and e-mail send the notification's "
                    "own text."
                )
            else:
                text = preview_text(template_preview(template))
            rows.append((label, text))
        return format_html_join("", "<div><b>{}</b><pre>{}</pre></div>", rows)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view(self.test_send_view)
        return [
            path("<path:object_id>/test-send/", view, name="{}_{}_test_send".format(*info)),
            *super().get_urls(),
        ]

    def test_send_view(self, request, object_id):
        template = self.get_object(request, unquote(object_id))
        if template is None:
            raise Http404
        if not self.has_change_permission(request, template):
            raise PermissionDenied
        initial = {"address": request.user.email} if template.channel == "email" else {}
        form = TestSendForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                template_test_send(template=template, address=form.cleaned_data["address"])
            except LoyaltyError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.log_change(request, template, gettext("Test sent to %(address)s") % form.cleaned_data)
                self.message_user(request, gettext("Test sent to %(address)s.") % form.cleaned_data, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:campaigns_messagetemplate_change", args=[template.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": template,
            "title": gettext("Send a test of %(template)s") % {"template": template},
            "form": form,
            "preview": preview_text(template_preview(template)),
            "change_url": reverse("admin:campaigns_messagetemplate_change", args=[template.pk]),
        }
        return TemplateResponse(request, "admin/campaigns/messagetemplate/test_send.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        extra["test_send_url"] = reverse("admin:campaigns_messagetemplate_test_send", args=[object_id])
        return super().change_view(request, object_id, form_url, extra)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """What the sender did with each outbox message of the staff member's store's members."""

    store_scope_field = "outbox_message__notification__member__home_store"
    list_display = ("created_at", "member", "channel", "category", "outcome", "attempt", "detail_shown")
    list_select_related = ("outbox_message__notification__member",)
    list_filter = ("outcome", "channel", "category")
    search_fields = ("=outbox_message__notification__member__member_number",)
    search_help_text = _("A member's exact member number.")
    ordering = ("-pk",)
    show_full_result_count = False
    fields = (
        "outbox_message", "channel", "category", "outcome", "attempt", "detail_shown", "provider_reference",
        "created_at",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description=_("detail"))
    def detail_shown(self, obj):
        return gettext(obj.detail) if obj.detail else ""  # the sender's own reasons are kept in English

    @admin.display(description=_("member"))
    def member(self, obj):
        return obj.outbox_message.notification.member


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """Consents withdrawn through unsubscribe links and reply keywords, with their dates (kept at least 3 years)."""

    store_scope_field = "member__home_store"
    list_display = ("recorded_at", "member_number", "channel", "consented", "source", "address")
    list_filter = ("channel", "source")
    search_fields = ("=member_number", "=address")
    search_help_text = _("A member's exact member number, phone or e-mail.")
    ordering = ("-pk",)
    show_full_result_count = False
    fields = ("member", "member_number", "channel", "consented", "source", "address", "recorded_at")
    readonly_fields = fields
