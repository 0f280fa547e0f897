"""Load a realistic demo network: Sub-CPOs, locations, EVSEs, payout accounts, assignments, CDRs.

Deterministic: the same `--seed` gives the same ids, outputs, assignments and amounts (dates are
relative to today, 00:00 UTC). The CDRs are inserted as `new` and then rated by the rating
service, exactly as if they had arrived over OCPI.
"""

import copy
import hashlib
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from schwifty import IBAN
from tqdm import tqdm

from ...models import (
    CDR,
    EVSE,
    Assignment,
    CDRStatus,
    Connector,
    Location,
    PayoutAccount,
    PowerType,
    SubCPO,
    UnassignReason,
    VatStatus,
)
from ...money import round_money
from ...ocpi.schemas import canonical_json, json_compatible
from ...services.rating import rerate_cdrs

BATCH = 2000
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


def _pick(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Site:
    location: Location
    kind: str
    lat: float
    lon: float


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
            sites, evse_rows = self.create_network(sub_cpos, evses)
            self.create_assignments(evse_rows, accounts)
        with transaction.atomic():
            self.create_cdrs(evse_rows, sites, cdrs)
        summary = self.rate()
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded demo data: {self.counts.sub_cpos} Sub-CPOs, "
                f"{self.counts.locations:,} locations, {self.counts.evses:,} EVSEs "
                f"({self.counts.assigned:,} assigned), {self.counts.accounts} payout accounts, "
                f"{self.counts.cdrs:,} CDRs ({summary}) in {time.monotonic() - started:.1f} s."
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

    def create_sub_cpos(self) -> list[tuple[SubCPO, str]]:
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

    def _iban(self, country: str, number: int) -> tuple[str, str]:
        iban_country, bank, branch = COUNTRIES[country]["bank"]
        iban = IBAN.generate(
            iban_country, bank_code=bank, account_code=f"{number:07d}", branch_code=branch
        )
        return str(iban), str(iban.bic) if iban.bic else ""

    def create_accounts(self, sub_cpos) -> dict:
        """Active accounts per holder (None = the CPO), plus one retired account."""
        rng = self.rng
        rows = []
        for country, label in (("BEL", "Belgium"), ("DEU", "Germany")):
            iban, bic = self._iban(country, rng.randrange(10**6, 10**7))
            rows.append(
                PayoutAccount(
                    name=f"CPO own revenue – {label}",
                    holder=None,
                    account_holder_name="Demo Charge Point Operator NV",
                    iban=iban,
                    bic=bic,
                    currency=CURRENCY,
                )
            )
        for sub_cpo, _ in sub_cpos:
            for number in range(1 + (rng.random() < 0.5)):
                iban, bic = self._iban(sub_cpo.country, rng.randrange(10**6, 10**7))
                rows.append(
                    PayoutAccount(
                        name=sub_cpo.name if number == 0 else f"{sub_cpo.name} – second site",
                        holder=sub_cpo,
                        account_holder_name=sub_cpo.name[:70],
                        iban=iban,
                        bic=bic,
                        vat_number=sub_cpo.vat_number,
                        currency=CURRENCY,
                        commission_percent=Decimal(rng.choice(["5.00", "8.00", "10.00", "12.50"])),
                        fee_per_kwh=Decimal(rng.choice(["0.0000", "0.0150", "0.0200", "0.0250"])),
                        fee_per_session=Decimal(rng.choice(["0.00", "0.25", "0.30", "0.50"])),
                    )
                )
        retired_holder = sub_cpos[0][0]
        iban, bic = self._iban(retired_holder.country, rng.randrange(10**6, 10**7))
        rows.append(
            PayoutAccount(
                name=f"{retired_holder.name} – closed account",
                holder=retired_holder,
                account_holder_name=retired_holder.name[:70],
                iban=iban,
                bic=bic,
                currency=CURRENCY,
                commission_percent=Decimal("10.00"),
                is_active=False,
                deactivated_at=self.today - timedelta(days=DAYS + 30),
            )
        )
        for row in rows:
            row.full_clean()
        created = PayoutAccount.objects.bulk_create(rows)
        self.counts.accounts = len(created)
        active, retired = {}, {}
        for account in created:
            target = active if account.is_active else retired
            target.setdefault(account.holder_id, []).append(account)
        return {"active": active, "retired": retired}

    def create_network(self, sub_cpos, evse_total: int):
        rng = self.rng
        countries = list(COUNTRIES)
        country_weights = [COUNTRIES[c]["weight"] for c in countries]
        by_country = {}
        for sub_cpo, kind in sub_cpos:
            by_country.setdefault(sub_cpo.country, []).append((sub_cpo, kind))

        sites, plans = [], []
        remaining, number = evse_total, 0
        while remaining > 0:
            number += 1
            country = rng.choices(countries, weights=country_weights)[0]
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
            location = Location(
                country_code=country_code,
                party_id=party_id,
                location_id=f"{DEMO_PREFIX}{number:05d}",
                name=f"{place} {SITE_WORDS[kind]} {city} {street}"[:255],
                address=address[:45],
                postal_code=rng.choice(postal_codes),
                city=city,
                country=country,
                time_zone=spec["tz"],
                owner=owner,
                last_updated=self.today - timedelta(days=DAYS + rng.randint(1, 400)),
            )
            site = Site(
                location=location,
                kind=kind,
                lat=lat + rng.uniform(-0.04, 0.04),
                lon=lon + rng.uniform(-0.06, 0.06),
            )
            size = min(rng.randint(2, 12), remaining)
            sites.append(site)
            plans.append((site, size))
            remaining -= size

        Location.objects.bulk_create((site.location for site in sites), batch_size=BATCH)
        self.counts.locations = len(sites)

        evse_rows, connectors = [], []
        every_power_type = iter(["ac1_3.7", "ac2_7.4", "ac2s_7.4", "ac3_22", "dc_150"])
        with self.progress(evse_total, "EVSEs") as bar:
            for site, size in plans:
                location = site.location
                for index in range(1, size + 1):
                    profile = next(every_power_type, None) or _pick(rng, SITE_PROFILES[site.kind])
                    power_type, output, voltage, amperage, standard, fmt = PROFILES[profile]
                    evse = EVSE(
                        country_code=location.country_code,
                        party_id=location.party_id,
                        uid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        evse_id=(
                            f"{location.country_code}*{location.party_id}*E"
                            f"{100000 + int(location.location_id[len(DEMO_PREFIX) :])}{index:03d}"
                        ),
                        location=location,
                        power_type=power_type,
                        output_kw=Decimal(output),
                        last_updated=location.last_updated,
                    )
                    evse_rows.append((evse, site, profile))
                    connectors.append(
                        Connector(
                            evse=evse,
                            connector_id="1",
                            standard=standard,
                            format=fmt,
                            power_type=power_type,
                            max_voltage=voltage,
                            max_amperage=amperage,
                            max_electric_power=int(Decimal(output) * 1000),
                            last_updated=location.last_updated,
                        )
                    )
                    if profile == "dc_50":
                        connectors.append(
                            Connector(
                                evse=evse,
                                connector_id="2",
                                standard="CHADEMO",
                                format="CABLE",
                                power_type=power_type,
                                max_voltage=500,
                                max_amperage=100,
                                max_electric_power=50000,
                                last_updated=location.last_updated,
                            )
                        )
                bar.update(size)
            for start in range(0, len(evse_rows), BATCH):
                EVSE.objects.bulk_create([evse for evse, *_ in evse_rows[start : start + BATCH]])
            for connector in connectors:
                connector.evse_id = connector.evse.pk
            Connector.objects.bulk_create(connectors, batch_size=BATCH)
        self.counts.evses = len(evse_rows)
        return sites, evse_rows

    def create_assignments(self, evse_rows, accounts) -> None:
        """About 60% of EVSEs assigned, a location mostly to one account (R2: the owner's)."""
        rng = self.rng
        active, retired = accounts["active"], accounts["retired"]
        rows, decided = [], {}
        for evse, site, _ in evse_rows:
            location = site.location
            if location.pk not in decided:
                candidates = active.get(location.owner_id, [])
                chosen = rng.choice(candidates) if candidates and rng.random() < 0.66 else None
                decided[location.pk] = (chosen, rng.randint(20, DAYS + 200))
            account, age_days = decided[location.pk]
            if account is None or rng.random() > 0.92:
                continue
            assigned_at = self.today - timedelta(days=age_days, minutes=rng.randint(0, 1439))
            if rng.random() < 0.04:
                # An earlier assignment, closed before the current one began.
                earlier = rng.choice(retired.get(location.owner_id) or [account])
                reason = (
                    UnassignReason.ACCOUNT_DEACTIVATED
                    if not earlier.is_active
                    else UnassignReason.MANUAL
                )
                rows.append(
                    Assignment(
                        evse=evse,
                        payout_account=earlier,
                        assigned_at=assigned_at - timedelta(days=rng.randint(60, 300)),
                        unassigned_at=assigned_at - timedelta(days=rng.randint(1, 30)),
                        unassign_reason=reason,
                    )
                )
            rows.append(Assignment(evse=evse, payout_account=account, assigned_at=assigned_at))
            self.counts.assigned += 1
        Assignment.objects.bulk_create(rows, batch_size=BATCH)

    def create_cdrs(self, evse_rows, sites, total: int) -> None:
        rng = self.rng
        tariffs = {
            site.location.location_id: (
                Decimal(rng.choice(AC_PRICES)),
                Decimal(rng.choice(DC_PRICES)),
            )
            for site in sites
        }
        # Fast chargers see more sessions than a hotel's AC points.
        cum_weights = list(
            accumulate(3 if profile.startswith("dc") else 1 for *_, profile in evse_rows)
        )
        originals = []
        batch = []
        with self.progress(total, "CDRs") as bar:
            for number in range(1, total + 1):
                roll = rng.random()
                if roll < 0.01:
                    batch.append(self.unknown_evse_cdr(number, sites))
                elif roll < 0.013 and originals:
                    batch.append(self.credit_cdr(number, rng.choice(originals)))
                else:
                    evse, site, profile = rng.choices(evse_rows, cum_weights=cum_weights)[0]
                    ac_price, dc_price = tariffs[site.location.location_id]
                    cdr = self.cdr(
                        number,
                        evse=evse,
                        site=site,
                        profile=profile,
                        price=dc_price if profile.startswith("dc") else ac_price,
                    )
                    batch.append(cdr)
                    if len(originals) < 500 and rng.random() < 0.05:
                        originals.append(cdr)
                if len(batch) >= BATCH:
                    CDR.objects.bulk_create(batch)
                    bar.update(len(batch))
                    batch = []
            CDR.objects.bulk_create(batch)
            bar.update(len(batch))
        self.counts.cdrs = total

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

    def cdr(self, number, *, evse, site, profile, price) -> CDR:
        energy, hours, start, end = self._session(profile)
        excl = round_money(energy * price, CURRENCY)
        incl = round_money(excl * (1 + VAT_RATE), CURRENCY)
        return self._row(
            number,
            evse=evse,
            location=site.location,
            evse_uid=evse.uid,
            evse_id=evse.evse_id,
            site=site,
            profile=profile,
            energy=energy,
            hours=hours,
            start=start,
            end=end,
            excl=excl,
            incl=incl,
            price=price,
        )

    def unknown_evse_cdr(self, number, sites) -> CDR:
        """A CDR for an EVSE the back office does not know (e.g. installed, not yet imported)."""
        rng = self.rng
        site = rng.choice(sites)
        location = site.location
        profile = "ac3_22"
        energy, hours, start, end = self._session(profile)
        price = Decimal(AC_PRICES[0])
        excl = round_money(energy * price, CURRENCY)
        return self._row(
            number,
            evse=None,
            location=location,
            evse_uid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            evse_id=f"{location.country_code}*{location.party_id}*E9{rng.randrange(10**8):08d}",
            site=site,
            profile=profile,
            energy=energy,
            hours=hours,
            start=start,
            end=end,
            excl=excl,
            incl=round_money(excl * (1 + VAT_RATE), CURRENCY),
            price=price,
        )

    def credit_cdr(self, number, original: CDR) -> CDR:
        """A credit CDR reversing an earlier session (OCPI `credit: true`, negative totals)."""
        raw = copy.deepcopy(original.raw)
        end = min(original.end_date_time + timedelta(days=2), self.today - timedelta(minutes=5))
        cdr_id = self._cdr_id(number)
        raw.update(
            id=cdr_id,
            credit=True,
            credit_reference_id=original.cdr_id,
            total_cost={
                "excl_vat": -original.total_cost_excl_vat,
                "incl_vat": -original.total_cost_incl_vat,
            },
            last_updated=_iso(end),
        )
        copied = {
            field.attname: getattr(original, field.attname)
            for field in CDR._meta.concrete_fields
            if not field.primary_key
        }
        return CDR(
            **{
                **copied,
                "cdr_id": cdr_id,
                "total_cost_excl_vat": -original.total_cost_excl_vat,
                "total_cost_incl_vat": -original.total_cost_incl_vat,
                "credit": True,
                "credit_reference_id": original.cdr_id,
                "last_updated": end,
                "raw": json_compatible(raw),
                "content_hash": self._hash(raw),
                "received_at": end,
            }
        )

    @staticmethod
    def _cdr_id(number: int) -> str:
        return f"{DEMO_PREFIX}-{number:08d}"

    @staticmethod
    def _hash(raw: dict) -> str:
        # The content hash OCPI intake computes, so re-sending a demo CDR is recognised as such.
        return hashlib.sha256(canonical_json(raw).encode()).hexdigest()

    def _row(
        self,
        number,
        *,
        evse,
        location,
        evse_uid,
        evse_id,
        site,
        profile,
        energy,
        hours,
        start,
        end,
        excl,
        incl,
        price,
    ) -> CDR:
        rng = self.rng
        power_type, *_, standard, fmt = PROFILES[profile]
        cdr_id = self._cdr_id(number)
        token_uid = f"{rng.getrandbits(56):014X}"
        raw = {
            "country_code": location.country_code,
            "party_id": location.party_id,
            "id": cdr_id,
            "start_date_time": _iso(start),
            "end_date_time": _iso(end),
            "cdr_token": {
                "country_code": location.country_code,
                "party_id": "EMP",
                "uid": token_uid,
                "type": "RFID",
                "contract_id": f"{location.country_code}-EMP-C{rng.randrange(10**8):08d}",
            },
            "auth_method": "WHITELIST",
            "cdr_location": {
                "id": location.location_id,
                "name": location.name,
                "address": location.address,
                "city": location.city,
                "postal_code": location.postal_code,
                "country": location.country,
                "coordinates": {"latitude": f"{site.lat:.6f}", "longitude": f"{site.lon:.6f}"},
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
                    "country_code": location.country_code,
                    "party_id": location.party_id,
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
        return CDR(
            country_code=location.country_code,
            party_id=location.party_id,
            cdr_id=cdr_id,
            start_date_time=start,
            end_date_time=end,
            location=location,
            evse=evse,
            location_ocpi_id=location.location_id,
            evse_uid=evse_uid,
            evse_id_raw=evse_id,
            currency=CURRENCY,
            total_energy=energy,
            total_time=hours,
            total_cost_excl_vat=excl,
            total_cost_incl_vat=incl,
            last_updated=end,
            raw=json_compatible(raw),
            content_hash=self._hash(raw),
            received_at=end + timedelta(seconds=rng.randint(5, 600)),
            status=CDRStatus.NEW,
        )

    def rate(self) -> str:
        """Rate every CDR through the rating service, as intake would have."""
        with self.progress(self.counts.cdrs, "Rating") as bar:
            summary = rerate_cdrs(
                cdrs=CDR.objects.all(), actor_name="seed_demo", progress=bar.update
            )
        by_status = ", ".join(
            f"{count:,} {status.replace('_', ' ')}"
            for status, count in sorted(summary.by_status.items())
        )
        return by_status or "none"
