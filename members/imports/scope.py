"""Which members an import may create and change: the importer's store scope, as one rule for every step.

Staff limited to a store (User.store) edit only the members whose home store it is (the console's rule),
so their import creates members only in that store and updates only those members; staff of all stores
(and an import without a user: the operator's) may do all. The preview's validation and every chunk of the
job (under the members' row locks, so a member moved meanwhile is caught) ask the same ImportScope.
"""

from dataclasses import dataclass

from django.utils.translation import gettext


@dataclass(frozen=True)
class ImportScope:
    store_id: int | None = None  # None: all stores

    @classmethod
    def of(cls, user) -> "ImportScope":
        """Return the scope of a staff user (User.scope_store_id, as in the console)."""
        return cls(store_id=None if user is None else user.scope_store_id)

    @property
    def is_all_stores(self) -> bool:
        return self.store_id is None

    def store_refusal(self, store_id: int | None) -> str | None:
        """Return why a row may not name `store_id` as home store, or None when it may (empty: the scope's)."""
        if self.store_id is None or store_id is None or store_id == self.store_id:
            return None
        return gettext("You may import members only into your own store; leave the cell empty or name your store.")

    def member_refusal(self, home_store_id: int | None) -> str | None:
        """Return why a row may not change the existing member of `home_store_id`, or None when it may."""
        if self.store_id is None or home_store_id == self.store_id:
            return None
        if home_store_id is None:
            return gettext("This member has no home store: only a merchant admin can change them by import.")
        return gettext("This member belongs to another store: only that store or a merchant admin can change them.")
