"""Payment providers: the interface, the provider map (with ``providers_config``), success handling."""

from .base import Invoice, PaymentProvider
from .registry import CORE_PROVIDERS, get_providers, provider_callback, set_provider_enabled
from .success import process_successful_payment

__all__ = (
    "CORE_PROVIDERS",
    "Invoice",
    "PaymentProvider",
    "get_providers",
    "process_successful_payment",
    "provider_callback",
    "set_provider_enabled",
)
