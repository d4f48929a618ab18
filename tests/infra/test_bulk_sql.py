"""infra.bulk_sql.field_in finds the rows `filter(name__in=values)` finds, on the same data: on PostgreSQL in its
fast form (`= ANY(one array parameter)`, the values sent as one array literal), and on the reference path
(`orm_reference()`, on every database) as the plain `__in` filter itself."""

from contextlib import nullcontext

import pytest
from django.db.models import Q
from django.db.models.expressions import RawSQL

from infra.bulk_sql import field_in, orm_reference
from members.models import Member, Notification, Tag
from tests.factories import MemberFactory, NotificationFactory

pytestmark = pytest.mark.django_db

PATHS = [
    pytest.param("sql", RawSQL, marks=pytest.mark.postgres, id="postgresql"),
    pytest.param("orm", Q, id="reference"),
]
# Texts an array literal must quote or escape: double quotes, backslashes, commas, braces, spaces, the word NULL.
AWKWARD_NAMES = ['say "hi"', "back\\slash", "a,b", "{braces}", " spaced ", "NULL", "it's", "会员", ""]


@pytest.fixture
def cases():
    """(base queryset, model, field name, values) on the same data, by case."""
    members = MemberFactory.create_batch(4)
    Member.objects.filter(pk=members[3].pk).update(status=Member.Status.FROZEN)
    for member in (members[0], members[0], members[1], members[3]):
        NotificationFactory(member=member)
    Tag.objects.bulk_create([Tag(name=name) for name in [*AWKWARD_NAMES, "plain"]])
    ids = [member.pk for member in members]
    absent_id = max(ids) + 1000
    dedupe_keys = list(Notification.objects.order_by("pk").values_list("dedupe_key", flat=True))
    return {
        "ids, repeated and absent": (Member.objects.all(), Member, "id", [ids[2], ids[0], absent_id, ids[0]]),
        "no values": (Member.objects.all(), Member, "id", []),
        "phones": (Member.objects.all(), Member, "phone", [members[1].phone, members[3].phone, "+85200000000"]),
        "member numbers": (Member.objects.all(), Member, "member_number", [members[0].member_number, "0"]),
        "texts to quote": (Tag.objects.all(), Tag, "name", [*AWKWARD_NAMES[1:], "absent"]),
        "texts with None": (Tag.objects.all(), Tag, "name", [None, AWKWARD_NAMES[0], "", None]),
        "keys": (Notification.objects.all(), Notification, "dedupe_key", dedupe_keys[1:] + ["absent"]),
        "foreign key, with a join": (
            Notification.objects.filter(member__status=Member.Status.ACTIVE).select_related("member"),
            Notification,
            "member_id",
            [ids[0], ids[3], absent_id],
        ),
    }


@pytest.mark.parametrize(("path", "form"), PATHS)
def test_field_in_finds_the_rows_of_the_in_filter(cases, path, form):
    for case, (queryset, model, name, values) in cases.items():
        with orm_reference() if path == "orm" else nullcontext():
            condition = field_in(model, name, values)
            found = list(queryset.filter(condition).order_by("pk").values_list("pk", flat=True))
        expected = list(queryset.filter(**{f"{name}__in": values}).order_by("pk").values_list("pk", flat=True))

        assert isinstance(condition, form), case
        assert found == expected, case
        assert expected or not values, case  # rows to compare, except where no value is given
