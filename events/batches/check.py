#!/usr/bin/env python3
"""Checks the sample input batches and proves the figures they replay to.

Reads MANIFEST (next to this script), then every batch in manifest order,
checks each line against the input rules and against everything before it,
applies the retractions, prints the totals per operation and asserts that
they equal the figures of the seed article (see ../README.md).

Python 3.8+, standard library only. Exit status 0 when everything holds.
Usage: python3 events/batches/check.py [--verbose]
"""
import json
import os
import re
import sys
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
VERBOSE = "--verbose" in sys.argv[1:]

# ---------------------------------------------------------------- expected
EXPECTED = {
    "theseus": {
        "agents_deployed": 3000,
        "experts_deployed": 0,
        "arrests": 236,
        "victims_rescued": 89,
        "migrants_detected": 2000,
        "checks": {"passenger": 2_500_000, "vehicle": 54_000, "flight": 1_500},
        "items": {"counterfeit_document": 1500, "boat": 30,
                  "inflatable_boat_or_buoy": 200, "firearm": 10},
        "drugs_grams": 60_000,
        "cash": {"USD": "200000.00"},
        "networks_profiled": 0,
        "closed": True,
    },
    "dunqett": {
        "agents_deployed": 0,
        "experts_deployed": 2,
        "arrests": 23,
        "victims_rescued": 0,
        "migrants_detected": 0,
        "checks": {},
        "items": {"firearm": 4, "vehicle": 8},
        "drugs_grams": 0,
        "cash": {},
        "networks_profiled": 1,
        "closed": True,
    },
}
# the 239 -> 236 reconciliation of Operation Theseus
EXPECTED_THESEUS_RAW_ARRESTS = 239
EXPECTED_THESEUS_RAW_OFFENCES = {"trafficking_in_persons": 72, "migrant_smuggling": 167}
EXPECTED_THESEUS_RETRACTED_ARRESTS = 3
EXPECTED_LAUNCH = {
    "theseus": {"name": "Operation Theseus", "coordinator": "INTERPOL",
                "countries": ["AL", "BA", "BG", "MD", "MK", "RO", "RS", "TR"],
                "starts_on": "2019-12-09", "ends_on": "2019-12-16",
                "funded_by": "German Federal Foreign Office",
                "focus": ["human_trafficking", "migrant_smuggling"]},
    "dunqett": {"coordinator": "EUROPOL", "countries": ["FR", "NL"],
                "focus": ["migrant_smuggling"]},
}
EXPECTED_DUNQETT_ARRESTS_BY_COUNTRY = {"FR": 19, "NL": 4}
EXPECTED_DUNQETT_EXPERTS = {("Europol", "FR"): 1, ("Europol", "NL"): 1}
EXPECTED_DUNQETT_NETWORK = {"people_smuggled_estimate": 10000,
                            "max_fee": {"currency": "EUR", "amount": "7000"},
                            "destination": "GB", "method": "refrigerated trucks"}

# ---------------------------------------------------------------- vocabulary
COUNTRIES = set("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW
""".split())
# minor digits of the currencies this sample may use (ISO 4217)
CURRENCY_DIGITS = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "TRY": 2, "RON": 2, "BGN": 2,
                   "MDL": 2, "MKD": 2, "RSD": 2, "BAM": 2, "ALL": 2, "JPY": 0}
LOCATIONS = {"border_crossing", "rail_station", "bus_station", "airport", "seaport", "road",
             "entertainment_district", "other"}
CHECK_KINDS = {"passenger", "person", "vehicle", "flight", "parcel", "premises"}
ITEMS = {"counterfeit_document", "boat", "inflatable_boat_or_buoy", "firearm", "ammunition",
         "vehicle", "device", "other"}
OFFENCES = {"trafficking_in_persons", "migrant_smuggling", "document_fraud", "drugs",
            "firearms", "other"}
EXPLOITATION = {"sexual", "labour", "begging", "forced_criminality", "other"}
OUTCOME_TYPES = {"AgentsDeployed", "ExpertsDeployed", "ArrestMade", "VictimRescued",
                 "MigrantsDetected", "ChecksPerformed", "ItemsSeized", "DrugsSeized",
                 "CashSeized", "NetworkProfiled"}
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
TOKEN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
RECORDED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
BATCH_NAME = re.compile(r"^(\d{3})-[a-z0-9][A-Za-z0-9-]*\.ndjson$")


class Refused(Exception):
    pass


# ---------------------------------------------------------------- field readers
def text(v, path, max_chars=1000):
    if not isinstance(v, str):
        raise Refused(f"{path}: expected a string")
    if not v.strip():
        raise Refused(f"{path}: must not be empty")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in v):
        raise Refused(f"{path}: must not contain control characters")
    if len(v) > max_chars:
        raise Refused(f"{path}: longer than {max_chars} characters")
    return v


def pseudonym(v, path):
    return text(v, path, 128)


def country(v, path):
    if v not in COUNTRIES:
        raise Refused(f"{path}: {v!r} is not a country code")
    return v


def count(v, path):
    if isinstance(v, bool) or not isinstance(v, int) or v < 1 or v > 2**64 - 1:
        raise Refused(f"{path}: must be a whole number >= 1")
    return v


def day(v, path):
    if not isinstance(v, str) or not DAY.match(v):
        raise Refused(f"{path}: {v!r} is not YYYY-MM-DD")
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise Refused(f"{path}: {v!r} is not a calendar day")


def instant(v, path):
    m = RFC3339.match(v) if isinstance(v, str) else None
    if not m:
        raise Refused(f"{path}: {v!r} is not RFC 3339 with offset")
    iso = v.replace("z", "Z").replace("t", "T")
    if iso.endswith("Z"):
        iso = iso[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        raise Refused(f"{path}: {v!r} is not a valid instant")


def enum(values):
    def read(v, path):
        if v not in values:
            raise Refused(f"{path}: {v!r} is not one of {sorted(values)}")
        return v
    return read


def unique_list(item):
    def read(v, path):
        if not isinstance(v, list):
            raise Refused(f"{path}: expected a list")
        out = [item(x, f"{path}[{i}]") for i, x in enumerate(v)]
        for i, x in enumerate(out):
            if x in out[:i]:
                raise Refused(f"{path}[{i}]: {x!r} is listed twice")
        return out
    return read


def token(v, path):
    if not isinstance(v, str) or not TOKEN.match(v):
        raise Refused(f"{path}: {v!r} is not a snake_case token")
    return v


def boolean(v, path):
    if not isinstance(v, bool):
        raise Refused(f"{path}: expected true or false")
    return v


def money_fields(obj, path):
    cur = obj.get("currency")
    amount = obj.get("amount")
    if cur not in CURRENCY_DIGITS:
        raise Refused(f"{path}.currency: {cur!r} is not a currency this check knows")
    if not isinstance(amount, str) or not re.match(r"^(0|[1-9]\d*)(\.\d+)?$", amount):
        raise Refused(f"{path}.amount: {amount!r} is not a decimal amount string")
    whole, _, frac = amount.partition(".")
    digits = CURRENCY_DIGITS[cur]
    if len(frac) > digits:
        raise Refused(f"{path}.amount: {amount!r} has more than {digits} decimals for {cur}")
    minor = int(whole + frac.ljust(digits, "0")) if digits else int(whole)
    if minor == 0:
        raise Refused(f"{path}.amount: must be greater than zero")
    return (cur, minor)


def money(v, path):
    if not isinstance(v, dict):
        raise Refused(f"{path}: expected an object")
    extra = set(v) - {"currency", "amount"}
    if extra or len(v) != 2:
        raise Refused(f"{path}: needs exactly currency and amount (got {sorted(v)})")
    return money_fields(v, path)


# type -> (required fields, optional fields)
SCHEMA = {
    "OperationLaunched": ({"name": text, "coordinator": text,
                           "countries": unique_list(country), "starts_on": day, "ends_on": day},
                          {"funded_by": text, "focus": unique_list(token)}),
    "CountryJoined": ({"country": country}, {}),
    "AgentsDeployed": ({"country": country, "count": count}, {}),
    "ExpertsDeployed": ({"organisation": text, "country": country, "count": count}, {}),
    "ArrestMade": ({"country": country, "occurred_at": instant, "location": enum(LOCATIONS),
                    "suspect": pseudonym},
                   {"network": text, "offences": unique_list(enum(OFFENCES))}),
    "VictimRescued": ({"country": country, "occurred_at": instant, "location": enum(LOCATIONS),
                       "victim": pseudonym},
                      {"minor": boolean, "nationality": country,
                       "exploitation": enum(EXPLOITATION)}),
    "MigrantsDetected": ({"country": country, "occurred_at": instant,
                          "location": enum(LOCATIONS), "count": count}, {}),
    "ChecksPerformed": ({"country": country, "occurred_at": instant,
                         "kind": enum(CHECK_KINDS), "count": count}, {}),
    "ItemsSeized": ({"country": country, "occurred_at": instant, "item": enum(ITEMS),
                     "count": count}, {"location": enum(LOCATIONS)}),
    "DrugsSeized": ({"country": country, "occurred_at": instant, "grams": count},
                    {"substance": text}),
    "CashSeized": ({"country": country, "occurred_at": instant, "currency": str,
                    "amount": str}, {}),
    "NetworkProfiled": ({"network": text},
                        {"people_smuggled_estimate": count, "max_fee": money,
                         "destination": country, "method": text}),
    "OperationClosed": ({}, {}),
    "EventRetracted": ({"event_id": None, "reason": text}, {}),
}


def read_uuid(v, path):
    try:
        u = uuid.UUID(v) if isinstance(v, str) else None
    except ValueError:
        u = None
    if u is None or str(u) != v.lower() or u.int == 0:
        raise Refused(f"{path}: {v!r} is not a (non-nil) UUID")
    return str(u)


def read_data(etype, data):
    if not isinstance(data, dict):
        raise Refused("data: expected an object")
    required, optional = SCHEMA[etype]
    unknown = set(data) - set(required) - set(optional)
    if unknown:
        raise Refused(f"data: unknown field(s) {sorted(unknown)}")
    out = {}
    for name, reader in required.items():
        if name not in data:
            raise Refused(f"data.{name}: missing")
    for name, reader in list(required.items()) + list(optional.items()):
        if name not in data:
            continue
        if etype == "EventRetracted" and name == "event_id":
            out[name] = read_uuid(data[name], "data.event_id")
        elif etype == "CashSeized" and name in ("currency", "amount"):
            continue
        else:
            out[name] = reader(data[name], f"data.{name}")
    if etype == "CashSeized":
        out["money"] = money_fields(data, "data")
    if etype == "OperationLaunched":
        if not out["countries"]:
            raise Refused("data.countries: must list at least one country")
        if out["ends_on"] < out["starts_on"]:
            raise Refused("data.ends_on: before starts_on")
    return out


# ---------------------------------------------------------------- replay
class Operation:
    def __init__(self, slug):
        self.slug = slug
        self.launch = None
        self.participants = set()
        self.closed = False
        self.retracted = set()
        self.outcomes = []  # (id, type, data, raw data)


def main():
    manifest_path = os.path.join(HERE, "MANIFEST")
    entries = []
    with open(manifest_path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split()
            assert len(parts) == 3, f"MANIFEST:{n}: expected <file> <recorded_at> <recorded_by>"
            entries.append((n, *parts))

    listed = [e[1] for e in entries]
    on_disk = sorted(f for f in os.listdir(HERE) if f.endswith(".ndjson"))
    assert sorted(listed) == on_disk, f"MANIFEST and directory differ: {set(listed) ^ set(on_disk)}"
    assert len(set(listed)) == len(listed), "a batch is listed twice"

    ops = {}
    by_id = {}  # id -> (operation, type)
    last_recorded = None
    last_number = 0
    lines_total = 0
    errors = []

    for (mline, fname, recorded_at, recorded_by) in entries:
        m = BATCH_NAME.match(fname)
        assert m, f"MANIFEST:{mline}: bad batch file name {fname}"
        number = int(m.group(1))
        assert number == last_number + 1, f"MANIFEST:{mline}: batch numbers must run 001, 002, ..."
        last_number = number
        assert RECORDED_AT.match(recorded_at), f"MANIFEST:{mline}: recorded_at must be like 2019-12-09T18:00:00Z"
        rec_at = datetime.fromisoformat(recorded_at[:-1] + "+00:00")
        assert last_recorded is None or rec_at >= last_recorded, \
            f"MANIFEST:{mline}: recorded_at {recorded_at} goes back in time"
        last_recorded = rec_at
        text(recorded_by, f"MANIFEST:{mline} recorded_by")

        with open(os.path.join(HERE, fname), "rb") as f:
            raw = f.read()
        assert raw.endswith(b"\n") and b"\r" not in raw, f"{fname}: lines must end with \\n"
        for ln, rawline in enumerate(raw.decode("utf-8").split("\n")[:-1], 1):
            where = f"{fname}:{ln}"
            lines_total += 1
            try:
                line = json.loads(rawline)
                if not isinstance(line, dict):
                    raise Refused("a line must be a JSON object")
                unknown = set(line) - {"id", "operation", "type", "recorded_by", "data"}
                if unknown:
                    raise Refused(f"unknown top-level field(s) {sorted(unknown)}")
                for k in ("id", "operation", "type", "data"):
                    if k not in line:
                        raise Refused(f"{k}: missing")
                eid = read_uuid(line["id"], "id")
                slug = line["operation"]
                if not isinstance(slug, str) or not SLUG.match(slug):
                    raise Refused(f"operation: {slug!r} is not a slug")
                etype = line["type"]
                if etype not in SCHEMA:
                    raise Refused(f"type: unknown event type {etype!r}")
                if "recorded_by" in line:
                    text(line["recorded_by"], "recorded_by")
                data = read_data(etype, line["data"])
                if eid in by_id:
                    raise Refused(f"id: {eid} was used before")

                op = ops.setdefault(slug, Operation(slug))
                # ---- operation rules
                if op.launch is None:
                    if etype != "OperationLaunched":
                        raise Refused(f"operation: {slug} has not been launched")
                elif etype == "OperationLaunched":
                    raise Refused(f"type: {slug} has already been launched")
                if etype == "OperationClosed" and op.closed:
                    raise Refused(f"type: {slug} is already closed")
                if etype == "CountryJoined":
                    if op.closed:
                        raise Refused("type: closed operations take no new countries")
                    if data["country"] in op.participants:
                        raise Refused("data.country: already a participant")
                elif "country" in data and data["country"] not in op.participants:
                    raise Refused(f"data.country: {data['country']} does not take part in {slug}")
                if "occurred_at" in data:
                    utc_day = data["occurred_at"].astimezone(timezone.utc).date()
                    s, e = op.launch["starts_on"], op.launch["ends_on"]
                    if not s <= utc_day <= e:
                        raise Refused(f"data.occurred_at: {utc_day} (UTC) outside {s}..{e}")
                    if data["occurred_at"] > rec_at:
                        raise Refused(f"data.occurred_at: after the batch's recorded_at {recorded_at}")
                if etype == "EventRetracted":
                    target = data["event_id"]
                    if target not in by_id:
                        raise Refused(f"data.event_id: no earlier event {target}")
                    t_op, t_type = by_id[target]
                    if t_op != slug:
                        raise Refused(f"data.event_id: {target} belongs to {t_op}")
                    if t_type not in OUTCOME_TYPES:
                        raise Refused(f"data.event_id: {target} is {t_type}, not an outcome")
                    if target in op.retracted:
                        raise Refused(f"data.event_id: {target} is already retracted")

                # ---- apply
                by_id[eid] = (slug, etype)
                if etype == "OperationLaunched":
                    op.launch = data
                    op.participants = set(data["countries"])
                elif etype == "CountryJoined":
                    op.participants.add(data["country"])
                elif etype == "OperationClosed":
                    op.closed = True
                elif etype == "EventRetracted":
                    op.retracted.add(data["event_id"])
                else:
                    op.outcomes.append((eid, etype, data, line["data"]))
            except (Refused, ValueError) as err:
                errors.append(f"{where}: {err}")

    if errors:
        print("\n".join(errors[:50]))
        print(f"FAILED: {len(errors)} refused line(s)")
        return 1

    print(f"{len(entries)} batches, {lines_total} events, {len(ops)} operations: all accepted")
    failures = []

    def expect(label, got, want):
        ok = got == want
        if not ok:
            failures.append(f"{label}: got {got!r}, expected {want!r}")
        return ok

    for slug in sorted(ops, key=lambda s: list(EXPECTED).index(s) if s in EXPECTED else 99):
        op = ops[slug]
        live = [o for o in op.outcomes if o[0] not in op.retracted]
        tot = {"agents_deployed": 0, "experts_deployed": 0, "arrests": 0, "victims_rescued": 0,
               "migrants_detected": 0, "checks": Counter(), "items": Counter(), "drugs_grams": 0,
               "cash": Counter(), "networks_profiled": 0, "closed": op.closed}
        by_country = defaultdict(Counter)
        suspects = Counter()
        for (eid, etype, d, raw) in live:
            c = d.get("country")
            if etype == "AgentsDeployed":
                tot["agents_deployed"] += d["count"]; by_country[c]["agents"] += d["count"]
            elif etype == "ExpertsDeployed":
                tot["experts_deployed"] += d["count"]; by_country[c]["experts"] += d["count"]
            elif etype == "ArrestMade":
                tot["arrests"] += 1; by_country[c]["arrests"] += 1
                suspects[d["suspect"]] += 1
            elif etype == "VictimRescued":
                tot["victims_rescued"] += 1; by_country[c]["victims"] += 1
                if d.get("minor"):
                    by_country[c]["minors"] += 1
            elif etype == "MigrantsDetected":
                tot["migrants_detected"] += d["count"]; by_country[c]["migrants"] += d["count"]
            elif etype == "ChecksPerformed":
                tot["checks"][d["kind"]] += d["count"]; by_country[c][d["kind"] + "_checks"] += d["count"]
            elif etype == "ItemsSeized":
                tot["items"][d["item"]] += d["count"]; by_country[c][d["item"]] += d["count"]
            elif etype == "DrugsSeized":
                tot["drugs_grams"] += d["grams"]; by_country[c]["drugs_grams"] += d["grams"]
            elif etype == "CashSeized":
                cur, minor = d["money"]
                tot["cash"][cur] += minor; by_country[c]["cash_" + cur + "_minor"] += minor
            elif etype == "NetworkProfiled":
                tot["networks_profiled"] += 1
        digits = CURRENCY_DIGITS
        cash = {cur: (f"{v // 10**digits[cur]}.{v % 10**digits[cur]:0{digits[cur]}d}"
                      if digits[cur] else str(v)) for cur, v in tot["cash"].items()}
        tot["cash"] = cash
        tot["checks"] = dict(tot["checks"])
        tot["items"] = dict(tot["items"])

        print(f"\n== {slug}: {op.launch['name']} ({op.launch['coordinator']}, "
              f"{op.launch['starts_on']}..{op.launch['ends_on']}, "
              f"{' '.join(sorted(op.participants))}) closed={op.closed}")
        print(f"   events {len(op.outcomes)} outcome, {len(op.retracted)} retracted")
        for k in ("agents_deployed", "experts_deployed", "arrests", "victims_rescued",
                  "migrants_detected", "checks", "items", "drugs_grams", "cash",
                  "networks_profiled"):
            print(f"   {k:18} {tot[k]}")
        if VERBOSE:
            for c in sorted(by_country):
                print(f"   {c}: " + ", ".join(f"{k}={v}" for k, v in sorted(by_country[c].items())))

        if slug in EXPECTED:
            for k, want in EXPECTED[slug].items():
                expect(f"{slug}.{k}", tot[k], want)
        else:
            failures.append(f"unexpected operation {slug}")
        dupes = [s for s, n in suspects.items() if n > 1]
        expect(f"{slug}: suspects reported twice after retractions", dupes, [])
        for k, want in EXPECTED_LAUNCH.get(slug, {}).items():
            expect(f"{slug}.launch.{k}", op.launch[k] if k not in ("starts_on", "ends_on")
                   else op.launch[k].isoformat(), want)

        if slug == "theseus":
            arrests = [o for o in op.outcomes if o[1] == "ArrestMade"]
            expect("theseus: ArrestMade events before retractions", len(arrests),
                   EXPECTED_THESEUS_RAW_ARRESTS)
            raw = Counter(off for o in arrests for off in o[2].get("offences", [])
                          if off in EXPECTED_THESEUS_RAW_OFFENCES)
            expect("theseus: offences before retractions", dict(raw),
                   EXPECTED_THESEUS_RAW_OFFENCES)
            both = [o for o in arrests if {"trafficking_in_persons", "migrant_smuggling"}
                    <= set(o[2].get("offences", []))]
            expect("theseus: arrests with both TIP and MS", len(both), 0)
            retracted_arrests = [o for o in arrests if o[0] in op.retracted]
            expect("theseus: retracted arrests", len(retracted_arrests),
                   EXPECTED_THESEUS_RETRACTED_ARRESTS)
            live_off = Counter(off for o in arrests if o[0] not in op.retracted
                               for off in o[2].get("offences", []))
            print(f"   arrests: {len(arrests)} reported (trafficking_in_persons "
                  f"{raw['trafficking_in_persons']} + migrant_smuggling {raw['migrant_smuggling']}),"
                  f" {len(retracted_arrests)} retracted as duplicates -> {tot['arrests']} "
                  f"(trafficking_in_persons {live_off['trafficking_in_persons']}, "
                  f"migrant_smuggling {live_off['migrant_smuggling']})")
            ag = {c: v["agents"] for c, v in by_country.items() if v["agents"]}
            expect("theseus: agents in every participating country", sorted(ag),
                   sorted(op.participants))
        if slug == "dunqett":
            expect("dunqett: arrests by country",
                   {c: v["arrests"] for c, v in by_country.items() if v["arrests"]},
                   EXPECTED_DUNQETT_ARRESTS_BY_COUNTRY)
            experts = Counter()
            for (eid, etype, d, raw) in live:
                if etype == "ExpertsDeployed":
                    experts[(d["organisation"], d["country"])] += d["count"]
            expect("dunqett: experts", dict(experts), EXPECTED_DUNQETT_EXPERTS)
            nets = [raw for (eid, etype, d, raw) in live if etype == "NetworkProfiled"]
            if expect("dunqett: one network profile", len(nets), 1):
                prof = {k: v for k, v in nets[0].items() if k != "network"}
                expect("dunqett: network profile", prof, EXPECTED_DUNQETT_NETWORK)
                networks = {d.get("network") for (eid, etype, d, raw) in live
                            if etype == "ArrestMade"}
                expect("dunqett: arrests' network", networks, {nets[0]["network"]})
            expect("dunqett: no funded_by", "funded_by" in op.launch, False)

    if failures:
        print("\n" + "\n".join(failures))
        print(f"FAILED: {len(failures)} figure(s) differ")
        return 1
    print("\nOK: every line accepted and every figure as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
