"""Reward images: refuse what is not a real, reasonably sized JPEG, PNG or WebP; make thumbnails.

Pillow reads only the header to learn the format and the dimensions, so a decompression bomb (a small file
that decodes to billions of pixels) is refused before any pixel is decoded; `verify()` then checks the file's
structure. Thumbnails are re-encoded from the decoded pixels (metadata such as GPS positions is dropped).
"""

import io
import warnings

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_SIDE = 4000
THUMBNAIL_SIDE = 400
THUMBNAIL_QUALITY = 82


def validate_reward_image(file) -> None:
    """Refuse a file that is not a JPEG, PNG or WebP image, is above 5 MB or 4000 pixels a side.

    Raises ValidationError (codes image_too_large, image_invalid, image_format, image_dimensions).
    """
    size = getattr(file, "size", None)
    if size is not None and size > MAX_IMAGE_BYTES:
        raise ValidationError(
            _("The image is %(size)s MB; the limit is %(limit)s MB.")
            % {"size": f"{size / 1024 / 1024:.1f}", "limit": MAX_IMAGE_BYTES // 1024 // 1024},
            code="image_too_large",
        )
    position = file.tell() if hasattr(file, "tell") else None
    try:
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                image_format, (width, height) = image.format, image.size
                if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
                    raise ValidationError(
                        _("The image is %(width)d × %(height)d pixels; at most %(max)d × %(max)d are accepted.")
                        % {"width": width, "height": height, "max": MAX_IMAGE_SIDE},
                        code="image_dimensions",
                    )
                if image_format not in ALLOWED_FORMATS:
                    raise ValidationError(_("Upload a JPEG, PNG or WebP image."), code="image_format")
                image.verify()
    except ValidationError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError,
            SyntaxError, ValueError):  # fmt: skip
        raise ValidationError(_("The file is not an image, or it is damaged."), code="image_invalid") from None
    finally:
        if position is not None:
            file.seek(position)


def thumbnail_make(file, *, name: str) -> ContentFile:
    """Return a WebP thumbnail (at most 400 pixels a side, turned upright by its EXIF orientation) of an image
    that passed validate_reward_image."""
    file.seek(0)
    with Image.open(file) as image:
        image.draft("RGB", (THUMBNAIL_SIDE * 2, THUMBNAIL_SIDE * 2))  # JPEG: decode at a reduced scale
        upright = ImageOps.exif_transpose(image)
        upright.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
        if upright.mode not in ("RGB", "RGBA"):
            upright = upright.convert(
                "RGBA" if "transparency" in upright.info or upright.mode in ("LA", "P") else "RGB"
            )
        output = io.BytesIO()
        upright.save(output, format="WEBP", quality=THUMBNAIL_QUALITY, method=4)
    return ContentFile(output.getvalue(), name=name)
