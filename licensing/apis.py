"""Host API views for licenses: each parses, calls a selector or service, serializes."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from corrosion.api.pagination import KeysetPagination
from licensing.models import LicenseStatus
from licensing.selectors import license_for_host, licenses_for_host, online_since
from licensing.serializers import LicenseOutputSerializer


class LicenseListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=LicenseStatus.choices, required=False)
        server_id = serializers.CharField(max_length=255, required=False)
        customer_email = serializers.CharField(max_length=254, required=False)
        online = serializers.BooleanField(required=False, allow_null=False)

    @extend_schema(
        operation_id="licenses_list",
        parameters=[
            FilterSerializer,
            OpenApiParameter("page_size", int, description="1 to 500, default 50"),
            OpenApiParameter("cursor", str, description="from a previous page's next or previous link"),
        ],
        responses={
            200: inline_serializer(
                "LicensePage",
                {
                    "results": LicenseOutputSerializer(many=True),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                },
            )
        },
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = licenses_for_host(host=request.user, filters=filters.validated_data)
        paginator = KeysetPagination("provisioned_at")
        rows = paginator.paginate(queryset, request)
        data = LicenseOutputSerializer(rows, many=True, context={"online_since": online_since()}).data
        return paginator.response(data)


class LicenseDetailApi(APIView):
    @extend_schema(operation_id="licenses_retrieve", responses={200: LicenseOutputSerializer})
    def get(self, request, license_id):
        host_license = license_for_host(host=request.user, license_id=license_id)
        if host_license is None:
            raise NotFound()
        return Response(LicenseOutputSerializer(host_license).data)
