"""Columns that only services move, by conditional UPDATEs or F() expressions under a lock."""


class ServiceOwnedFieldsMixin:
    """A save() of an existing row without update_fields writes every column except SERVICE_OWNED_FIELDS.

    A console form or a profile edit saves the whole row as it was read; written back, a balance, a counter or a
    stock read a moment earlier would undo a purchase, a claim or a redemption committed in between.
    """

    SERVICE_OWNED_FIELDS: tuple[str, ...] = ()

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.SERVICE_OWNED_FIELDS
            ]
        super().save(*args, **kwargs)
