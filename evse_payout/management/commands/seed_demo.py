"""Load a realistic demo network: Sub-CPOs, locations, EVSEs, payout accounts, assignments, CDRs.

Everything goes through the services real data goes through, so demo data looks like real data,
audit rows included: locations and EVSEs through the OCPI location import (`create_locations`), accounts through
`create_payout_account`, assignments through `assign_evses` / `unassign_evses` /
`deactivate_payout_account`, and CDRs through the OCPI CDR import (`import_cdr_batch`), which
rates each one as it arrives. Only Sub-CPOs and location owners, which no service owns (staff set
them in the Django admin), are written here.

Deterministic: the same `--seed` gives the same ids, outputs, assignments and amounts (dates are
relative to today, 00:00 UTC).
"""

import copy
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from schwifty import IBAN
from tqdm import tqdm

from ...models import CDR, EVSE, EVSEStatus, Location, PayoutAccount, PowerType, SubCPO, VatStatus
from ...money import round_money
from ...services.accounts import create_payout_account, deactivate_payout_account
from ...services.assignments import assign_evses, unassign_evses
from ...services.ocpi_ingest import create_locations, import_cdr_batch

ACTOR_NAME = "seed_demo"
LOCATION_SHARE = 0.66  # of EVSEs at a location with an account; 92% of those get assigned

BATCH = 2000
SITE_BATCH = 200
DEMO_PREFIX = "DEMO"
VAT_RATE = Decimal("0.21")
CURRENCY = "EUR"
DAYS = 90

# country: OCPI party, time zone, bank for generated IBANs, cities (postal codes, lat, lon)
COUNTRIES = {
    "BEL": {
        "party": ("BE", "BEC"),
        "tz": "Europe/Brussels",
        "bank": ("BE", "001", ""),
        "weight": 34,
        "streets": [
            "Stationsstraat", "Kerkstraat", "Rue de la Gare", "Avenue Louise",
            "Grote Markt", "Koningin Astridlaan", "Rue Neuve", "Frankrijklei",
            "Kortrijksesteenweg", "Chaussée de Waterloo", "Bondgenotenlaan", "Zuidstraat",
        ],
        "cities": {
            "Brussel": (["1000", "1030", "1040", "1050", "1060"], 50.8467, 4.3525),
            "Antwerpen": (["2000", "2018", "2060"], 51.2194, 4.4025),
            "Gent": (["9000", "9040", "9050"], 51.0543, 3.7174),
            "Leuven": (["3000", "3010"], 50.8798, 4.7005),
            "Brugge": (["8000", "8200"], 51.2093, 3.2247),
            "Liège": (["4000", "4020"], 50.6326, 5.5797),
            "Namur": (["5000", "5100"], 50.4674, 4.8718),
            "Hasselt": (["3500", "3510"], 50.9307, 5.3378),
        },
    },
    "NLD": {
        "party": ("NL", "ALF"),
        "tz": "Europe/Amsterdam",
        "bank": ("NL", "INGB", ""),
        "weight": 20,
        "streets": [
            "Stationsplein", "Kerkstraat", "Damrak", "Coolsingel", "Oudegracht",
            "Parkweg", "Industrieweg", "Havenstraat", "Dorpsstraat", "Marktplein",
        ],
        "cities": {
            "Amsterdam": (["1011", "1017", "1071", "1098"], 52.3676, 4.9041),
            "Rotterdam": (["3011", "3012", "3072"], 51.9244, 4.4777),
            "Utrecht": (["3511", "3521", "3584"], 52.0907, 5.1214),
            "Den Haag": (["2511", "2514", "2595"], 52.0705, 4.3007),
            "Eindhoven": (["5611", "5612", "5652"], 51.4416, 5.4697),
        },
    },
    "DEU": {
        "party": ("DE", "ALL"),
        "tz": "Europe/Berlin",
        "bank": ("DE", "37040044", ""),
        "weight": 16,
        "streets": [
            "Bahnhofstraße", "Hauptstraße", "Schillerstraße", "Goethestraße",
            "Industriestraße", "Marktplatz", "Kaiserstraße", "Lindenallee",
        ],
        "cities": {
            "Köln": (["50667", "50672", "50823"], 50.9375, 6.9603),
            "Aachen": (["52062", "52064", "52070"], 50.7753, 6.0839),
            "Düsseldorf": (["40210", "40213", "40476"], 51.2277, 6.7735),
            "Berlin": (["10115", "10178", "10719"], 52.5200, 13.4050),
            "München": (["80331", "80335", "81241"], 48.1351, 11.5820),
        },
    },
    "FRA": {
        "party": ("FR", "VLT"),
        "tz": "Europe/Paris",
        "bank": ("FR", "30004", "00001"),
        "weight": 12,
        "streets": [
            "Rue de la République", "Avenue Jean Jaurès", "Boulevard Victor Hugo",
            "Rue Nationale", "Place de la Gare", "Rue du Commerce", "Avenue de Verdun",
        ],
        "cities": {
            "Paris": (["75001", "75008", "75011", "75015"], 48.8566, 2.3522),
            "Lille": (["59000", "59800"], 50.6292, 3.0573),
            "Lyon": (["69001", "69003", "69007"], 45.7640, 4.8357),
            "Strasbourg": (["67000", "67100"], 48.5734, 7.7521),
        },
    },
    "AUT": {
        "party": ("AT", "SMA"),
        "tz": "Europe/Vienna",
        "bank": ("AT", "20111", ""),
        "weight": 9,
        "streets": ["Bahnhofstraße", "Hauptplatz", "Mariahilfer Straße", "Kärntner Straße"],
        "cities": {
            "Wien": (["1010", "1060", "1100"], 48.2082, 16.3738),
            "Graz": (["8010", "8020"], 47.0707, 15.4395),
            "Salzburg": (["5020"], 47.8095, 13.0550),
        },
    },
    "LUX": {
        "party": ("LU", "CHA"),
        "tz": "Europe/Luxembourg",
        "bank": ("LU", "001", ""),
        "weight": 9,
        "streets": ["Avenue de la Liberté", "Boulevard Royal", "Rue de Hollerich", "Route d'Arlon"],
        "cities": {
            "Luxembourg": (["1118", "1470", "2449"], 49.6116, 6.1319),
            "Esch-sur-Alzette": (["4001", "4130"], 49.4958, 5.9806),
        },
    },
}  # fmt: skip

# name, country, VAT number, kind of site (drives the chargers installed there)
SUB_CPOS = [
    ("Hotel Ardenne Group", "BEL", "BE0456123001", "destination"),
    ("Stad Gent", "BEL", "BE0207451227", "street"),
    ("Van Dijk Fleet Depot B.V.", "NLD", "NL812345605B01", "depot"),
    ("Gemeente Eindhoven", "NLD", "NL001234511B01", "street"),
    ("Autohaus Becker GmbH", "DEU", "DE287654324", "destination"),
    ("Parkings Lumière SAS", "FRA", "FR75512345679", "destination"),
    ("Alpenhof Hotels GmbH", "AUT", "ATU61234569", "destination"),
    ("Kirchberg Office Campus S.A.", "LUX", "LU26123419", "depot"),
]
# Self-billing master data per Sub-CPO: (street, number, postal code, city, VAT status); the
# statuses cover every VAT case of a self-billed invoice.
SUB_CPO_MASTER_DATA = {
    "Hotel Ardenne Group": ("Avenue de la Gare", "12", "6700", "Arlon", VatStatus.REGISTERED),
    "Stad Gent": ("Botermarkt", "1", "9000", "Gent", VatStatus.NOT_REGISTERED),
    "Van Dijk Fleet Depot B.V.": ("Havenweg", "8", "3542 AD", "Utrecht", VatStatus.REGISTERED),
    "Gemeente Eindhoven": ("Stadhuisplein", "10", "5611 EM", "Eindhoven", VatStatus.EXEMPT),
    "Autohaus Becker GmbH": ("Aachener Straße", "250", "50931", "Köln", VatStatus.REGISTERED),
    "Parkings Lumière SAS": ("Rue de la République", "4", "69002", "Lyon", VatStatus.REGISTERED),
    "Alpenhof Hotels GmbH": ("Dorfstraße", "3", "6370", "Kitzbühel", VatStatus.REGISTERED),
    "Kirchberg Office Campus S.A.": (
        "Avenue John F. Kennedy",
        "44",
        "1855",
        "Luxembourg",
        VatStatus.REGISTERED,
    ),
}

# (power type, output kW, max voltage, max amperage, connector standard, format)
PROFILES = {
    "ac1_3.7": (PowerType.AC_1_PHASE, "3.7", 230, 16, "IEC_62196_T2", "SOCKET"),
    "ac1_7.4": (PowerType.AC_1_PHASE, "7.4", 230, 32, "IEC_62196_T2", "SOCKET"),
    "ac2_7.4": (PowerType.AC_2_PHASE, "7.4", 230, 16, "IEC_62196_T2", "SOCKET"),
    "ac2s_7.4": (PowerType.AC_2_PHASE_SPLIT, "7.4", 230, 16, "IEC_62196_T2", "CABLE"),
    "ac3_11": (PowerType.AC_3_PHASE, "11", 230, 16, "IEC_62196_T2", "SOCKET"),
    "ac3_22": (PowerType.AC_3_PHASE, "22", 230, 32, "IEC_62196_T2", "SOCKET"),
    "dc_50": (PowerType.DC, "50", 500, 125, "IEC_62196_T2_COMBO", "CABLE"),
    "dc_150": (PowerType.DC, "150", 920, 200, "IEC_62196_T2_COMBO", "CABLE"),
    "dc_350": (PowerType.DC, "350", 920, 500, "IEC_62196_T2_COMBO", "CABLE"),
}
SITE_PROFILES = {
    "street": {"ac3_22": 5, "ac3_11": 3, "ac1_7.4": 2, "ac1_3.7": 1, "ac2_7.4": 1},
    "destination": {"ac3_11": 5, "ac3_22": 4, "ac1_7.4": 2, "dc_50": 1},
    "depot": {"ac3_22": 5, "ac2s_7.4": 2, "ac2_7.4": 1, "dc_50": 2, "dc_150": 1},
    "hub": {"dc_150": 4, "dc_350": 3, "dc_50": 2},
}
CPO_SITES = {"street": 6, "hub": 2, "destination": 2}
SITE_WORDS = {
    "street": "Parking",
    "destination": "Guest parking",
    "depot": "Depot",
    "hub": "Fast charging hub",
}
# price per kWh excl. VAT: AC and DC tariffs
AC_PRICES = ["0.35", "0.39", "0.42", "0.45", "0.49"]
DC_PRICES = ["0.55", "0.59", "0.62", "0.65", "0.69"]


COUNTRY_NAMES = list(COUNTRIES)
COUNTRY_WEIGHTS = [COUNTRIES[country]["weight"] for country in COUNTRY_NAMES]
# The second connector of a 50 kW DC charger.
CHADEMO = {
    "id": "2",
    "standard": "CHADEMO",
    "format": "CABLE",
    "power_type": PowerType.DC.value,
    "max_voltage": 500,
    "max_amperage": 100,
    "max_electric_power": 50000,
}


def _pick(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class DemoEVSE:
    uid: str
    evse_id: str
    site: "Site"
    profile: str
    pk: int | None = None


@dataclass
class Site:
    """A planned location: its OCPI Location object (without EVSEs), owner, kind and EVSEs."""

    payload: dict
    owner: SubCPO | None
    kind: str
    size: int = 0
    evses: list[DemoEVSE] = field(default_factory=list)
    location: Location | None = None


@dataclass
class AssignmentPlan:
    """EVSE primary keys per account: assigned before (then unassigned), and assigned now."""

    retired: list[PayoutAccount]
    earlier: dict = field(default_factory=lambda: defaultdict(list))
    unassigned: list[int] = field(default_factory=list)
    current: dict = field(default_factory=lambda: defaultdict(list))


@dataclass
class Counts:
    sub_cpos: int = 0
    locations: int = 0
    evses: int = 0
    accounts: int = 0
    assigned: int = 0
    cdrs: int = 0


class Command(BaseCommand):
    help = (
        "Load realistic demo data (Sub-CPOs, locations, EVSEs, payout accounts, assignments and "
        "rated CDRs). Safe to run twice: adds nothing when demo data exists."
    )

    def add_arguments(self, parser):
        parser.add_argument("--evses", type=int, default=2000, help="EVSEs (default 2,000).")
        parser.add_argument("--cdrs", type=int, default=20000, help="CDRs (default 20,000).")
        parser.add_argument(
            "--seed", type=int, default=2026, help="Random seed: same seed, same data."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Load only into a database without any network data (used by `make run`).",
        )

    def handle(self, *args, evses, cdrs, seed, if_empty, verbosity, **options):
        self.verbosity = verbosity
        if evses < 1 or cdrs < 0:
            raise CommandError("--evses must be at least 1 and --cdrs not negative.")
        if if_empty and (Location.objects.exists() or PayoutAccount.objects.exists()):
            self.stdout.write("The database already holds network data: no demo data loaded.")
            return
        if Location.objects.filter(location_id__startswith=DEMO_PREFIX).exists():
            self.stdout.write(
                f"Demo data already loaded ({EVSE.objects.count():,} EVSEs, "
                f"{CDR.objects.count():,} CDRs): nothing added."
            )
            return

        started = time.monotonic()
        self.rng = random.Random(seed)
        self.today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        self.counts = Counts()
        with transaction.atomic():
            sub_cpos = self.create_sub_cpos()
            accounts = self.create_accounts(sub_cpos)
            sites = self.create_network(sub_cpos, evses)
            self.create_assignments(sites, accounts)
        self.create_cdrs(sites, cdrs)
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded demo data: {self.counts.sub_cpos} Sub-CPOs, "
                f"{self.counts.locations:,} locations, {self.counts.evses:,} EVSEs "
                f"({self.counts.assigned:,} assigned), {self.counts.accounts} payout accounts, "
                f"{self.counts.cdrs:,} CDRs ({self.status_summary()}) in "
                f"{time.monotonic() - started:.1f} s."
            )
        )

    def progress(self, total: int, desc: str) -> tqdm:
        return tqdm(
            total=total,
            desc=desc,
            unit="",
            file=self.stderr._out,
            disable=self.verbosity == 0 or not self.stderr.isatty(),
            leave=False,
        )

    # -- Sub-CPOs and payout accounts ------------------------------------------------------------

    def create_sub_cpos(self) -> list[tuple[SubCPO, str]]:
        # No service owns Sub-CPOs: staff create them in the Django admin.
        created = SubCPO.objects.bulk_create(
            self.sub_cpo(number, name, country, vat)
            for number, (name, country, vat, _) in enumerate(SUB_CPOS, start=1)
        )
        self.counts.sub_cpos = len(created)
        return [(sub_cpo, kind) for sub_cpo, (*_, kind) in zip(created, SUB_CPOS, strict=True)]

    def sub_cpo(self, number: int, name: str, country: str, vat_number: str) -> SubCPO:
        street, building, postal_code, city, vat_status = SUB_CPO_MASTER_DATA[name]
        sub_cpo = SubCPO(
            name=name,
            country=country,
            street=street,
            building_number=building,
            postal_code=postal_code,
            city=city,
            vat_status=vat_status,
            vat_number="" if vat_status == VatStatus.NOT_REGISTERED else vat_number,
            agreement_reference=f"SBA-{number:04d}",
            agreement_signed_on=(self.today - timedelta(days=DAYS + 60)).date(),
        )
        sub_cpo.full_clean()
        return sub_cpo

    def _iban(self, country: str) -> tuple[str, str]:
        iban_country, bank, branch = COUNTRIES[country]["bank"]
        number = self.rng.randrange(10**6, 10**7)
        iban = IBAN.generate(
            iban_country, bank_code=bank, account_code=f"{number:07d}", branch_code=branch
        )
        return str(iban), str(iban.bic) if iban.bic else ""

    def _create_account(self, *, holder: SubCPO | None, country: str, **fields) -> PayoutAccount:
        iban, bic = self._iban(country)
        return create_payout_account(
            holder=holder, iban=iban, bic=bic, currency=CURRENCY, actor=None, **fields
        )

    def _sub_cpo_account(self, sub_cpo: SubCPO, number: int) -> PayoutAccount:
        rng = self.rng
        return self._create_account(
            holder=sub_cpo,
            country=sub_cpo.country,
            name=sub_cpo.name if number == 0 else f"{sub_cpo.name} – second site",
            account_holder_name=sub_cpo.name[:70],
            vat_number=sub_cpo.vat_number,
            commission_percent=Decimal(rng.choice(["5.00", "8.00", "10.00", "12.50"])),
            fee_per_kwh=Decimal(rng.choice(["0.0000", "0.0150", "0.0200", "0.0250"])),
            fee_per_session=Decimal(rng.choice(["0.00", "0.25", "0.30", "0.50"])),
        )

    def create_accounts(self, sub_cpos) -> dict:
        """Active accounts per holder (None = the CPO), plus one account to retire: it stays
        active until `create_assignments` has given it EVSEs to unassign when it is deactivated."""
        accounts = [
            self._create_account(
                holder=None,
                country=country,
                name=f"CPO own revenue – {label}",
                account_holder_name="Demo Charge Point Operator NV",
            )
            for country, label in (("BEL", "Belgium"), ("DEU", "Germany"))
        ]
        for sub_cpo, _ in sub_cpos:
            for number in range(1 + (self.rng.random() < 0.5)):
                accounts.append(self._sub_cpo_account(sub_cpo, number))
        retiring_holder = sub_cpos[0][0]
        retiring = self._create_account(
            holder=retiring_holder,
            country=retiring_holder.country,
            name=f"{retiring_holder.name} – closed account",
            account_holder_name=retiring_holder.name[:70],
            commission_percent=Decimal("10.00"),
        )
        self.counts.accounts = len(accounts) + 1
        active = defaultdict(list)
        for account in accounts:
            active[account.holder_id].append(account)
        return {"active": active, "retired": {retiring.holder_id: [retiring]}}

    # -- Locations, EVSEs and connectors ---------------------------------------------------------

    def create_network(self, sub_cpos, evse_total: int) -> list[Site]:
        """Plan the sites and their EVSEs, import them as OCPI locations, then set owners."""
        sites = self.plan_sites(sub_cpos, evse_total)
        self.plan_evses(sites)
        self.import_sites(sites)
        self.set_owners(sites)
        return sites

    def plan_sites(self, sub_cpos, evse_total: int) -> list[Site]:
        """Sites of 2 to 12 EVSEs until `evse_total`; about half owned by a Sub-CPO."""
        by_country = defaultdict(list)
        for sub_cpo, kind in sub_cpos:
            by_country[sub_cpo.country].append((sub_cpo, kind))
        sites, remaining = [], evse_total
        while remaining > 0:
            site = self._plan_site(len(sites) + 1, by_country)
            site.size = min(self.rng.randint(2, 12), remaining)
            sites.append(site)
            remaining -= site.size
        return sites

    def _plan_site(self, number: int, by_country: dict) -> Site:
        rng = self.rng
        country = rng.choices(COUNTRY_NAMES, weights=COUNTRY_WEIGHTS)[0]
        spec = COUNTRIES[country]
        city = rng.choice(sorted(spec["cities"]))
        postal_codes, lat, lon = spec["cities"][city]
        owners = by_country.get(country, [])
        if owners and rng.random() < 0.5:
            owner, kind = rng.choice(owners)
        else:
            owner, kind = None, _pick(rng, CPO_SITES)
        street = rng.choice(spec["streets"])
        address = f"{street} {rng.randint(1, 240)}"
        place = owner.name.split(" ")[0] if owner else spec["party"][1]
        country_code, party_id = spec["party"]
        postal_code = rng.choice(postal_codes)
        last_updated = self.today - timedelta(days=DAYS + rng.randint(1, 400))
        lat, lon = lat + rng.uniform(-0.04, 0.04), lon + rng.uniform(-0.06, 0.06)
        payload = {
            "country_code": country_code,
            "party_id": party_id,
            "id": f"{DEMO_PREFIX}{number:05d}",
            "publish": True,
            "name": f"{place} {SITE_WORDS[kind]} {city} {street}"[:255],
            "address": address[:45],
            "city": city,
            "postal_code": postal_code,
            "country": country,
            "coordinates": {"latitude": f"{lat:.6f}", "longitude": f"{lon:.6f}"},
            "time_zone": spec["tz"],
            "last_updated": _iso(last_updated),
        }
        return Site(payload=payload, owner=owner, kind=kind)

    def plan_evses(self, sites: list[Site]) -> None:
        """The site's kind decides its chargers; the first five EVSEs cover every power type."""
        every_power_type = iter(["ac1_3.7", "ac2_7.4", "ac2s_7.4", "ac3_22", "dc_150"])
        for site in sites:
            ocpi = site.payload
            location_number = int(ocpi["id"][len(DEMO_PREFIX) :])
            for index in range(1, site.size + 1):
                profile = next(every_power_type, None) or _pick(self.rng, SITE_PROFILES[site.kind])
                uid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                evse_id = (
                    f"{ocpi['country_code']}*{ocpi['party_id']}*E"
                    f"{100000 + location_number}{index:03d}"
                )
                site.evses.append(DemoEVSE(uid=uid, evse_id=evse_id, site=site, profile=profile))

    @staticmethod
    def _evse_payload(evse: DemoEVSE, last_updated: str) -> dict:
        power_type, output, voltage, amperage, standard, fmt = PROFILES[evse.profile]
        connectors = [
            {
                "id": "1",
                "standard": standard,
                "format": fmt,
                "power_type": power_type.value,
                "max_voltage": voltage,
                "max_amperage": amperage,
                "max_electric_power": int(Decimal(output) * 1000),
            }
        ]
        if evse.profile == "dc_50":
            connectors.append(CHADEMO)
        return {
            "uid": evse.uid,
            "evse_id": evse.evse_id,
            "status": EVSEStatus.AVAILABLE.value,
            "connectors": [{**connector, "last_updated": last_updated} for connector in connectors],
            "last_updated": last_updated,
        }

    def import_sites(self, sites: list[Site]) -> None:
        """The sites through the OCPI location import, a batch of locations at a time."""
        with self.progress(sum(site.size for site in sites), "EVSEs") as bar:
            for start in range(0, len(sites), SITE_BATCH):
                batch = sites[start : start + SITE_BATCH]
                payloads = [
                    {
                        **site.payload,
                        "evses": [
                            self._evse_payload(evse, site.payload["last_updated"])
                            for evse in site.evses
                        ],
                    }
                    for site in batch
                ]
                for site, location in zip(batch, create_locations(payloads=payloads), strict=True):
                    site.location = location
                bar.update(sum(site.size for site in batch))
        pks = dict(
            EVSE.objects.filter(location__location_id__startswith=DEMO_PREFIX).values_list(
                "uid", "pk"
            )
        )
        for site in sites:
            for evse in site.evses:
                evse.pk = pks[evse.uid]
        self.counts.locations = len(sites)
        self.counts.evses = len(pks)

    def set_owners(self, sites: list[Site]) -> None:
        # OCPI does not say who owns a location and no service owns it: staff set it in the
        # Django admin. One UPDATE per Sub-CPO does the same here.
        by_owner = defaultdict(list)
        for site in sites:
            if site.owner is not None:
                site.location.owner = site.owner
                by_owner[site.owner].append(site.location.pk)
        for owner, location_pks in by_owner.items():
            Location.objects.filter(pk__in=location_pks).update(owner=owner)

    # -- Assignments -----------------------------------------------------------------------------

    def create_assignments(self, sites: list[Site], accounts: dict) -> None:
        """Through the assignment services, so each step has its audit row (R7): earlier
        assignments, closed by hand or by retiring their account (R4), then today's."""
        plan = self.plan_assignments(sites, accounts)
        for account, pks in plan.earlier.items():
            self._assign(account, pks)
        if plan.unassigned:
            unassign_evses(evses=EVSE.objects.filter(pk__in=plan.unassigned), actor=None)
        for account in plan.retired:
            deactivate_payout_account(account=account, actor=None)
        for account, pks in plan.current.items():
            self._assign(account, pks)
        self.counts.assigned = sum(len(pks) for pks in plan.current.values())

    @staticmethod
    def _assign(account: PayoutAccount, pks: list[int]) -> None:
        assign_evses(
            evses=EVSE.objects.filter(pk__in=pks),
            account_id=account.pk,
            actor=None,
            expected_count=len(pks),
        )

    def plan_assignments(self, sites: list[Site], accounts: dict) -> AssignmentPlan:
        """About 60% of EVSEs assigned, a location mostly to one account (R2: the owner's)."""
        rng = self.rng
        active, retired = accounts["active"], accounts["retired"]
        plan = AssignmentPlan(retired=[account for group in retired.values() for account in group])
        seen = chosen_evses = 0
        for site in sites:
            owner_pk = site.owner.pk if site.owner else None
            candidates = active.get(owner_pk, [])
            seen += site.size
            # A location is chosen whole; the running quota keeps the chosen share near 66% of
            # the EVSEs even in a demo of a few locations.
            chosen = None
            if candidates and chosen_evses + site.size * rng.random() <= LOCATION_SHARE * seen:
                chosen = rng.choice(candidates)
                chosen_evses += site.size
            for evse in site.evses:
                if chosen is None or rng.random() > 0.92:
                    continue
                # Some history, even in the smallest demo.
                if not plan.earlier or rng.random() < 0.04:
                    earlier = rng.choice(retired.get(owner_pk) or [chosen])
                    plan.earlier[earlier].append(evse.pk)
                    if earlier not in plan.retired:
                        plan.unassigned.append(evse.pk)
                plan.current[chosen].append(evse.pk)
        return plan

    # -- CDRs ------------------------------------------------------------------------------------

    def create_cdrs(self, sites: list[Site], total: int) -> None:
        """`total` OCPI CDRs through the CDR import (stored and rated as they arrive), in
        batches, all or none."""
        next_cdr = self._cdr_source(sites)
        records = []
        with transaction.atomic(), self.progress(total, "CDRs") as bar:
            for number in range(1, total + 1):
                records.append((number, next_cdr(number)))
                if len(records) >= BATCH:
                    self._import_cdrs(records)
                    bar.update(len(records))
                    records = []
            self._import_cdrs(records)
            bar.update(len(records))
        self.counts.cdrs = total

    def _import_cdrs(self, records: list[tuple[int, dict]]) -> None:
        if not records:
            return
        result = import_cdr_batch(records=records, actor_name=ACTOR_NAME)
        if result.rejected:
            number, reason = result.rejected[0]
            raise CommandError(f"The CDR import refused demo CDR {self._cdr_id(number)}: {reason}")

    def _cdr_source(self, sites: list[Site]):
        """A function giving the OCPI CDR numbered n: 1% for EVSEs the back office does not know,
        0.3% credits of earlier sessions, the rest sessions on the network."""
        rng = self.rng
        tariffs = {
            id(site): (Decimal(rng.choice(AC_PRICES)), Decimal(rng.choice(DC_PRICES)))
            for site in sites
        }
        evses = [evse for site in sites for evse in site.evses]
        # Fast chargers see more sessions than a hotel's AC points.
        cum_weights = list(accumulate(3 if evse.profile.startswith("dc") else 1 for evse in evses))
        originals = []

        def next_cdr(number: int) -> dict:
            roll = rng.random()
            if roll < 0.01:
                return self.unknown_evse_cdr(number, sites)
            if roll < 0.013 and originals:
                return self.credit_cdr(number, rng.choice(originals))
            evse = rng.choices(evses, cum_weights=cum_weights)[0]
            ac_price, dc_price = tariffs[id(evse.site)]
            price = dc_price if evse.profile.startswith("dc") else ac_price
            cdr = self.session_cdr(number, evse=evse, price=price)
            if len(originals) < 500 and rng.random() < 0.05:
                originals.append(cdr)
            return cdr

        return next_cdr

    def _session(self, profile: str):
        rng = self.rng
        output = Decimal(PROFILES[profile][1])
        if profile.startswith("dc"):
            energy = Decimal(rng.uniform(15, 80)).quantize(Decimal("0.001"))
            hours = energy / (output * Decimal(rng.uniform(0.45, 0.8)))
        else:
            energy = Decimal(rng.uniform(2, 40)).quantize(Decimal("0.001"))
            hours = energy / (output * Decimal(rng.uniform(0.6, 0.95)))
            hours += Decimal(rng.choice([0, 0, 0.5, 1, 2, 5]))
        hours = max(hours, Decimal("0.1")).quantize(Decimal("0.001"))
        end = self.today - timedelta(seconds=rng.randint(60, DAYS * 86400))
        start = end - timedelta(seconds=int(hours * 3600))
        return energy, hours, start, end

    def session_cdr(self, number: int, *, evse: DemoEVSE, price: Decimal) -> dict:
        return self._cdr(
            number, site=evse.site, evse_uid=evse.uid, evse_id=evse.evse_id, profile=evse.profile,
            price=price,
        )  # fmt: skip

    def unknown_evse_cdr(self, number: int, sites: list[Site]) -> dict:
        """A CDR for an EVSE the back office does not know (e.g. installed, not yet imported)."""
        rng = self.rng
        site = rng.choice(sites)
        ocpi = site.payload
        return self._cdr(
            number,
            site=site,
            evse_uid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            evse_id=f"{ocpi['country_code']}*{ocpi['party_id']}*E9{rng.randrange(10**8):08d}",
            profile="ac3_22",
            price=Decimal(AC_PRICES[0]),
        )

    def credit_cdr(self, number: int, original: dict) -> dict:
        """A credit CDR reversing an earlier session (OCPI `credit: true`, negative totals)."""
        ended = datetime.fromisoformat(original["end_date_time"])
        end = min(ended + timedelta(days=2), self.today - timedelta(minutes=5))
        total = original["total_cost"]
        credit = copy.deepcopy(original)
        credit.update(
            id=self._cdr_id(number),
            credit=True,
            credit_reference_id=original["id"],
            total_cost={"excl_vat": -total["excl_vat"], "incl_vat": -total["incl_vat"]},
            last_updated=_iso(end),
        )
        return credit

    @staticmethod
    def _cdr_id(number: int) -> str:
        return f"{DEMO_PREFIX}-{number:08d}"

    def _cdr(self, number, *, site: Site, evse_uid, evse_id, profile, price) -> dict:
        """One session as an OCPI 2.2.1 CDR object (amounts as Decimals, as a parser gives them)."""
        rng = self.rng
        energy, hours, start, end = self._session(profile)
        excl = round_money(energy * price, CURRENCY)
        incl = round_money(excl * (1 + VAT_RATE), CURRENCY)
        power_type, *_, standard, fmt = PROFILES[profile]
        ocpi = site.payload
        country_code, party_id = ocpi["country_code"], ocpi["party_id"]
        return {
            "country_code": country_code,
            "party_id": party_id,
            "id": self._cdr_id(number),
            "start_date_time": _iso(start),
            "end_date_time": _iso(end),
            "cdr_token": {
                "country_code": country_code,
                "party_id": "EMP",
                "uid": f"{rng.getrandbits(56):014X}",
                "type": "RFID",
                "contract_id": f"{country_code}-EMP-C{rng.randrange(10**8):08d}",
            },
            "auth_method": "WHITELIST",
            "cdr_location": {
                **{key: ocpi[key] for key in ("id", "name", "address", "city", "postal_code", "country", "coordinates")},
                "evse_uid": evse_uid,
                "evse_id": evse_id,
                "connector_id": "1",
                "connector_standard": standard,
                "connector_format": fmt,
                "connector_power_type": power_type.value,
            },
            "currency": CURRENCY,
            "tariffs": [
                {
                    "country_code": country_code,
                    "party_id": party_id,
                    "id": f"{'DC' if profile.startswith('dc') else 'AC'}-{price}",
                    "currency": CURRENCY,
                    "elements": [
                        {"price_components": [{"type": "ENERGY", "price": price, "vat": Decimal("21.0"), "step_size": 1}]}
                    ],
                    "last_updated": _iso(self.today - timedelta(days=DAYS + 30)),
                }
            ],
            "charging_periods": [
                {
                    "start_date_time": _iso(start),
                    "dimensions": [
                        {"type": "ENERGY", "volume": energy},
                        {"type": "TIME", "volume": hours},
                    ],
                }
            ],
            "total_cost": {"excl_vat": excl, "incl_vat": incl},
            "total_energy": energy,
            "total_energy_cost": {"excl_vat": excl, "incl_vat": incl},
            "total_time": hours,
            "last_updated": _iso(end),
        }  # fmt: skip

    def status_summary(self) -> str:
        by_status = (
            CDR.objects.filter(cdr_id__startswith=DEMO_PREFIX)
            .values_list("status")
            .annotate(count=Count("pk"))
            .order_by("status")
        )
        summary = ", ".join(f"{count:,} {status.replace('_', ' ')}" for status, count in by_status)
        return summary or "none"
