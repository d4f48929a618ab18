"""The console's store page edits the store's opening hours, its holiday exceptions and its photos as inlines, in the
store's scope: overlapping hours are refused, and staff of one store cannot touch another store's hours."""

import io
from datetime import date, time

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from members.models import Role, StoreHoursException, StoreOpeningHours, StorePhoto
from tests.console_helpers import form_data
from tests.factories import StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


def change_url(store):
    return reverse("admin:members_store_change", args=[store.pk])


def png_file(name="front.png"):
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def page_data(client, store):
    """The store's change form as a browser would post it back unchanged (inlines included)."""
    page = client.get(change_url(store))
    assert page.status_code == 200
    data = form_data(page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        data.update(form_data(inline.formset.management_form))
        for form in inline.formset.forms:
            data.update(form_data(form))
    return data


def with_rows(data, prefix, rows):
    data = {**data, f"{prefix}-TOTAL_FORMS": str(len(rows))}
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{name}": value for name, value in row.items()})
    return data


@pytest.fixture
def store_a():
    return StoreFactory(code="a", name="Store A")


@pytest.fixture
def store_b():
    return StoreFactory(code="b", name="Store B")


@pytest.fixture
def merchant_admin(client):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    return client


@pytest.fixture
def store_a_editor(client, store_a):
    """Staff of store A allowed to edit stores and their hours (the console scopes them to store A)."""
    user = UserFactory(store=store_a)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="members",
            codename__in=[
                "view_store", "change_store", "view_storeopeninghours", "add_storeopeninghours",
                "change_storeopeninghours", "delete_storeopeninghours",
            ],
        )
    )  # fmt: skip
    client.force_login(user)
    return client


def test_the_merchant_admin_sets_hours_a_holiday_and_ordered_photos_on_the_store_page(merchant_admin, store_a):
    data = page_data(merchant_admin, store_a)
    data = with_rows(
        data,
        "opening_hours",
        [
            {"weekday": "0", "opens_at": "10:00", "closes_at": "22:00"},
            {"weekday": "4", "opens_at": "18:00", "closes_at": "02:00"},
        ],
    )
    data = with_rows(data, "hours_exceptions", [{"date": "2026-12-25", "is_closed": "on", "note_en": "Christmas Day"}])
    data = with_rows(
        data,
        "photos",
        [{"image": png_file("inside.png"), "position": "2", "caption_en": "Inside"},
         {"image": png_file("front.png"), "position": "1", "caption_en": "Front"}],
    )  # fmt: skip

    response = merchant_admin.post(change_url(store_a), data)

    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    assert sorted(StoreOpeningHours.objects.values_list("weekday", "opens_at", "closes_at")) == [
        (0, time(10, 0), time(22, 0)), (4, time(18, 0), time(2, 0)),
    ]  # fmt: skip
    assert list(StoreHoursException.objects.values_list("date", "is_closed", "note")) == [
        (date(2026, 12, 25), True, "Christmas Day")
    ]
    assert list(StorePhoto.objects.order_by("position").values_list("caption", flat=True)) == ["Front", "Inside"]


def test_a_file_that_is_not_an_image_is_refused_as_a_photo(merchant_admin, store_a):
    data = page_data(merchant_admin, store_a)
    not_an_image = SimpleUploadedFile("front.png", b"not an image", content_type="image/png")
    data = with_rows(data, "photos", [{"image": not_an_image, "position": "0", "caption_en": ""}])

    response = merchant_admin.post(change_url(store_a), data)

    assert response.status_code == 200
    assert not StorePhoto.objects.exists()


def test_overlapping_hours_are_refused_and_nothing_is_saved(merchant_admin, store_a):
    data = with_rows(
        page_data(merchant_admin, store_a),
        "opening_hours",
        [
            {"weekday": "4", "opens_at": "18:00", "closes_at": "02:00"},
            {"weekday": "5", "opens_at": "01:00", "closes_at": "10:00"},
        ],
    )

    response = merchant_admin.post(change_url(store_a), data)

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert errors == ["Friday 18:00–02:00 overlaps Saturday 01:00–10:00."]
    assert not StoreOpeningHours.objects.exists()


def test_special_hours_need_both_times(merchant_admin, store_a):
    data = with_rows(
        page_data(merchant_admin, store_a), "hours_exceptions", [{"date": "2026-12-24", "opens_at": "10:00"}]
    )

    response = merchant_admin.post(change_url(store_a), data)

    assert response.status_code == 200
    assert not StoreHoursException.objects.exists()


def test_staff_of_one_store_edit_its_hours_but_not_another_stores(store_a_editor, store_a, store_b):
    # given the hours of store B, and an editor of store A holding a copy of a store page's form
    StoreOpeningHours.objects.create(store=store_b, weekday=0, opens_at=time(10, 0), closes_at=time(22, 0))
    rows = [{"weekday": "1", "opens_at": "09:00", "closes_at": "17:00"}]
    own = with_rows(page_data(store_a_editor, store_a), "opening_hours", rows)

    # when they post hours to store B's page, and to their own
    other = store_a_editor.post(change_url(store_b), {**own, "code": "b", "name_en": "Store B"})
    mine = store_a_editor.post(change_url(store_a), own)

    # then store B's page is out of their reach and its hours are unchanged; their own store's hours are saved
    assert (other.status_code, other.url) == (302, reverse("admin:index"))
    assert mine.status_code == 302
    assert sorted(StoreOpeningHours.objects.values_list("store__code", "weekday")) == [("a", 1), ("b", 0)]
