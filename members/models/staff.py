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
    def scope_store_id(self) -> int | None:
        """The store this staff member's work is limited to (lists, forms, jobs), or None for all stores.

        A superuser works for all stores whatever store their account names.
        """
        return None if self.is_superuser else self.store_id

    def has_role(self, role):
        return self.is_superuser or self.groups.filter(name=role).exists()
