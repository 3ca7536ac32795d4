"""Reference data: the code tables declarations are validated against.

* :func:`get_refdata` - HS 2022, China's 2023 tariff codes, UN/LOCODE
  (China) and the customs parameter tables, loaded once;
* :mod:`~onewindow.refdata.validators` - ``check_*`` functions returning
  ``None`` or a message;
* :mod:`~onewindow.refdata.types` - Pydantic field types built on them;
* :func:`get_catalogue` - the inspection catalogue (which goods need CIQ).

The HTTP router lives in :mod:`onewindow.refdata.api` and is not imported
here, so that using the tables does not import FastAPI.
"""

from __future__ import annotations

from . import validators
from .catalogue import CATEGORIES, CatalogueEntry, InspectionCatalogue, get_catalogue
from .tables import PARAM_TABLES, CnCommodity, Location, Param, RefData, get_refdata, load_refdata
from .validators import (
    check_ciq_office,
    check_container_number,
    check_country,
    check_currency,
    check_customs_office,
    check_hs_code,
    check_location,
    check_param,
    check_port,
    check_size_type,
    check_uscc,
)

__all__ = [
    "CATEGORIES",
    "PARAM_TABLES",
    "CatalogueEntry",
    "CnCommodity",
    "InspectionCatalogue",
    "Location",
    "Param",
    "RefData",
    "check_ciq_office",
    "check_container_number",
    "check_country",
    "check_currency",
    "check_customs_office",
    "check_hs_code",
    "check_location",
    "check_param",
    "check_port",
    "check_size_type",
    "check_uscc",
    "get_catalogue",
    "get_refdata",
    "load_refdata",
    "validators",
]
