"""What one caller may ask (ACCESS.md "Limits"): request rates and bursts per principal and
per client address, and the distinct-patients ceiling of nurses and doctors."""

from gateway.limits.patients import PatientCeiling
from gateway.limits.rates import ADDRESS, PRINCIPAL, RequestRates

__all__ = ["ADDRESS", "PRINCIPAL", "PatientCeiling", "RequestRates"]
