"""The app's URLs plus the benchmarks' reference endpoints; never part of a deployment.

- /bench/naive-purchase (bench/pos_purchase.py), the issue's yardstick for a purchase: "lock the member, insert
  a ledger row, update the balance", written as a Django developer would, behind the same POS key
  authentication. It gives the purchase's p99 a reference measured on the same machine, at the same time.
- /bench/member-ping (bench/flash_sale.py): a trivial DRF view behind the member token authentication of the
  claim endpoint, the yardstick of a flash sale's answers ("as fast as the endpoint around it").
"""

from django.db import transaction
from django.db.models import F
from django.urls import path
from django.utils import timezone
from rest_framework.response import Response

from config.urls import urlpatterns as app_urlpatterns
from infra.api import BaseApi
from members.api.authentication import MemberTokenAuthentication, StoreApiKeyAuthentication
from members.api.permissions import IsMember, IsPosClient
from members.models import Member, PointsEntry

NAIVE_POINTS = 10


class NaivePurchaseApi(BaseApi):
    authentication_classes = [StoreApiKeyAuthentication]
    permission_classes = [IsPosClient]

    def post(self, request):
        with transaction.atomic():
            member = Member.objects.select_for_update().get(member_number=request.data["member_number"])
            PointsEntry.objects.create(
                member=member,
                kind=PointsEntry.Kind.ACCRUAL,
                delta=NAIVE_POINTS,
                balance_after=member.points_balance + NAIVE_POINTS,
                debt_after=member.points_debt,
                idempotency_key=request.data["external_id"],
                source="bench_naive",
                created_at=timezone.now(),
            )
            Member.objects.filter(pk=member.pk).update(points_balance=F("points_balance") + NAIVE_POINTS)
        return Response({"points_balance": member.points_balance + NAIVE_POINTS}, status=201)


class MemberPingApi(BaseApi):
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]

    def post(self, request):
        return Response({"member": request.user.pk})


urlpatterns = [
    path("bench/naive-purchase", NaivePurchaseApi.as_view()),
    path("bench/member-ping", MemberPingApi.as_view()),
    *app_urlpatterns,
]
