"""Reward images: only real, reasonably sized JPEG, PNG and WebP images; a WebP thumbnail made by a service."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from points.images import MAX_IMAGE_BYTES, validate_reward_image
from points.services.mall import reward_thumbnail_refresh
from tests.factories import RewardFactory


def image_bytes(fmt="PNG", size=(800, 600), mode="RGB", color="red", **save) -> bytes:
    output = io.BytesIO()
    Image.new(mode, size, color).save(output, format=fmt, **save)
    return output.getvalue()


def upload(data: bytes, name="gift.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_jpeg_png_and_webp_images_are_accepted(fmt):
    validate_reward_image(upload(image_bytes(fmt)))


def code_of(data: bytes) -> str:
    with pytest.raises(ValidationError) as error:
        validate_reward_image(upload(data))
    return error.value.code


def test_a_file_that_is_not_an_image_is_refused():
    assert code_of(b"this is not an image at all") == "image_invalid"


def test_a_truncated_image_is_refused():
    assert code_of(image_bytes("PNG")[:200]) == "image_invalid"


def test_other_image_formats_are_refused():
    assert code_of(image_bytes("GIF", mode="P")) == "image_format"


def test_an_image_above_5_mb_is_refused():
    assert code_of(b"\x00" * (MAX_IMAGE_BYTES + 1)) == "image_too_large"


def test_an_image_above_4000_pixels_a_side_is_refused():
    assert code_of(image_bytes("PNG", size=(4001, 10))) == "image_dimensions"


def test_a_decompression_bomb_is_refused_before_its_pixels_are_decoded():
    # A PNG header claiming 100000 x 100000 pixels (10 gigapixels) in a few hundred bytes.
    data = image_bytes("PNG", size=(1, 1))
    bomb = data[:16] + (100000).to_bytes(4, "big") + (100000).to_bytes(4, "big") + data[24:]

    assert code_of(bomb) in {"image_invalid", "image_dimensions"}


@pytest.mark.django_db
def test_the_thumbnail_is_a_webp_of_at_most_400_pixels_a_side_that_keeps_the_aspect():
    reward = RewardFactory(image=upload(image_bytes("JPEG", size=(1600, 800)), name="gift.jpg"))

    reward = reward_thumbnail_refresh(reward_id=reward.pk)

    reward.refresh_from_db()
    with Image.open(reward.thumbnail.path) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("WEBP", (400, 200))


@pytest.mark.django_db
def test_the_thumbnail_follows_the_exif_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: a landscape file shown as a portrait
    reward = RewardFactory(image=upload(image_bytes("JPEG", size=(800, 400), exif=exif), name="gift.jpg"))

    reward_thumbnail_refresh(reward_id=reward.pk)

    reward.refresh_from_db()
    with Image.open(reward.thumbnail.path) as thumbnail:
        assert thumbnail.size == (200, 400)


@pytest.mark.django_db
def test_a_transparent_png_keeps_its_transparency():
    reward = RewardFactory(image=upload(image_bytes("PNG", size=(100, 100), mode="RGBA", color=(255, 0, 0, 0))))

    reward_thumbnail_refresh(reward_id=reward.pk)

    reward.refresh_from_db()
    with Image.open(reward.thumbnail.path) as thumbnail:
        assert thumbnail.mode == "RGBA"


@pytest.mark.django_db
def test_removing_the_image_clears_the_thumbnail():
    reward = RewardFactory(image=upload(image_bytes()))
    reward_thumbnail_refresh(reward_id=reward.pk)
    reward.refresh_from_db()
    reward.image = ""
    reward.save()

    reward = reward_thumbnail_refresh(reward_id=reward.pk)

    reward.refresh_from_db()
    assert not reward.thumbnail
