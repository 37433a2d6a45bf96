import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from shequ.core.audit import RequestContext, current_request


class RequestContextMiddleware:
    """Makes the client address and a request id available to the audit log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        token = current_request.set(RequestContext(ip=request.META.get("REMOTE_ADDR"), request_id=request_id))
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        response["X-Request-Id"] = request_id
        return response
