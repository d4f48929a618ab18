"""Staff roles as Django groups, and the permissions each holds.

Synced after every migrate (idempotent): add a permission here and `migrate` gives it to the role.
"""

from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission

from members.models import Role

OUR_APPS = ("members", "points", "coupons", "campaigns", "console")

ROLE_PERMISSIONS = {
    Role.STORE_MANAGER: {
        "members.view_member",
        "members.add_member",
        "members.change_member",
        "members.import_member",
        "members.export_member",
        "members.view_store",
        "members.view_tier",
        "members.view_tag",
        "members.add_tag",
        "members.view_purchase",
        "members.add_purchase",
        "members.view_pointsentry",
        "members.view_memberimportjob",
        "members.add_memberimportjob",
        "members.view_membertoken",
        "members.view_membershipplan",
        "members.view_memberplansubscription",
        "members.view_notification",
        "members.view_outboxmessage",
        # The member page's actions for their store's members (console/member_360).
        "members.tag_member",
        "members.freeze_member",
        "members.issue_member_coupon",
        "members.export_member_data",
        # The channels' logs of their store's members and events (read-only).
        "campaigns.view_consentrecord",
        "campaigns.view_deliveryattempt",
        "campaigns.view_webhookdelivery",
        "coupons.view_coupon",
        "coupons.view_coupontemplate",
        "coupons.void_coupon",
        "coupons.add_couponissuejob",
        "coupons.view_couponissuejob",
        "coupons.view_postpaymentrule",
        "points.view_earningrule",
        "points.view_pointspolicy",
        "points.view_purchasecheckout",
        "points.view_purchaserefund",
        # Their store's mini-program checkout orders; a stuck one released by hand (audited on the order).
        "points.view_checkoutorder",
        "points.release_checkoutorder",
        "points.view_reward",
        "points.view_rewardorder",
        "points.fulfil_rewardorder",
        "points.cancel_rewardorder",
        "points.view_pointsreport",
        "points.view_luckydraw",
        "points.view_drawprize",
        "points.view_drawspin",
        "points.view_auction",
        "points.view_auctionbid",
        "points.view_tiermonthlygift",
        "points.view_tiergiftrun",
        "console.view_dashboard",  # their store's figures
        "console.view_audit_log",  # their store's rows (console.audit_log)
        # Segments of their store (campaigns.Segment.store), to count and to issue their store's coupons to.
        "campaigns.view_segment",
        "campaigns.add_segment",
        "campaigns.change_segment",
        "campaigns.delete_segment",
        # Campaigns of their store (campaigns.Campaign.store): written, launched and followed (runs, recipients).
        "campaigns.view_campaign",
        "campaigns.add_campaign",
        "campaigns.change_campaign",
        "campaigns.launch_campaign",
        "campaigns.view_campaignrun",
        "campaigns.view_campaignrecipient",
    },
    Role.CLERK: {
        "members.view_member",
        "members.view_store",
        "members.view_tier",
        "members.view_tag",
        "members.view_purchase",
        "members.add_purchase",
        "members.view_pointsentry",
        "coupons.view_coupon",
        "points.view_purchasecheckout",
        "points.view_purchaserefund",
        "points.view_reward",
        "points.view_rewardorder",
        "points.fulfil_rewardorder",
    },
}


def _permissions(codes):
    wanted = {tuple(code.split(".", 1)) for code in codes}
    perms = Permission.objects.select_related("content_type").filter(content_type__app_label__in=OUR_APPS)
    return [p for p in perms if (p.content_type.app_label, p.codename) in wanted]


def sync_roles(**_kwargs):
    from django.apps import apps

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    admin_group, _created = Group.objects.get_or_create(name=Role.MERCHANT_ADMIN)
    admin_group.permissions.set(
        Permission.objects.filter(content_type__app_label__in=(*OUR_APPS, "django_celery_beat", "auth"))
    )
    for role, codes in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.set(_permissions(codes))
