from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """Staff roles; each is a Django group of the same name, created by a migration."""

    MERCHANT_ADMIN = "merchant_admin", _("Merchant admin")
    STORE_MANAGER = "store_manager", _("Store manager")
    CLERK = "clerk", _("Clerk")


class User(AbstractUser):
    """A staff account of the console. Members are not users; they hold MemberTokens."""

    store = models.ForeignKey(
        "members.Store",
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
        help_text=_("Empty means the staff member works for all stores."),
    )

    class Meta:
        verbose_name = _("staff user")
        verbose_name_plural = _("staff users")

    @property
    def is_all_stores(self):
        return self.is_superuser or self.store_id is None

    def has_role(self, role):
        return self.is_superuser or self.groups.filter(name=role).exists()
