"""Labelled personal-data set from faker, scored per kind on exact spans (issue 9).

Builds a deterministic set of short sentences, each holding one value with its gold
span (code points in the text), and runs ``use pii, secrets`` over it:

* phone numbers of four locales (faker ``en_US``, ``en_GB``, ``de_DE``, ``fr_FR``),
  after a cue word ("Call", "phone:", "Tel.") or in neutral sentences, some with
  full-width digits or no-break spaces;
* payment cards: every faker brand (Visa 13/16/19, Mastercard, Amex, Diners, Discover,
  JCB 15/16, Maestro 12) and Luhn-valid numbers of 12-19 digits in the other IIN ranges
  (UnionPay, Mir, RuPay, Maestro 13-19, ...), grouped with space, dash, dot, NBSP,
  thin space or narrow NBSP, or written in full-width digits;
* IBANs (faker, six locales): compact, grouped, lowercase, irregularly spaced;
* national ids with valid checksums (UK NINO, German IdNr, French NIR, EU VAT numbers)
  and passport numbers after the word "passport";
* URLs with paths and trailing slashes; AWS secret keys assigned to a key name (the
  gold span is the value, not the label);
* hard negatives: version strings, ISBNs, order numbers, timestamps, git SHAs, UUIDs,
  float arrays, dates, prices, code. Any redaction in one of them is a false alarm.

Scores: per kind precision, recall and F1 of exact typed spans (a redaction counts
when its start, end and kind equal a gold value's), and untyped overlap recall (the
value is hidden at all). Values are generated here, never stored.

Usage (from the repository root; needs faker: ``pip install -e .[bench]``)::

    python bench/eval_pii.py                 # the table
    python bench/eval_pii.py --json out.json # also the numbers as JSON
    python bench/eval_pii.py --n 100         # per-group size (default 150)
    python bench/eval_pii.py --throughput    # also `use pii` MB/s on the reference workload
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import policylang  # noqa: E402

try:
    from faker import Faker
except ImportError:  # pragma: no cover
    raise SystemExit("needs faker: pip install -e .[bench]")

SEED = 20269
FULLWIDTH = {ord(c): chr(0xFF10 + int(c)) for c in string.digits}
SEPARATORS = [" ", "-", ".", "\u00a0", "\u2009", "\u202f"]

POLICY = """policy eval_pii "eval"
use pii, secrets
rule r on input, output, context:
    when pii or secrets
    redact "[{kind}]"
"""


# ----------------------------------------------------------------------------- values
def luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


# (prefix, lengths): IIN ranges beyond faker's brands
IIN_RANGES = [
    ("62", (16, 17, 18, 19)),  # UnionPay
    ("2200", (16,)), ("2204", (16, 17, 18, 19)),  # Mir
    ("5018", (12, 13, 14, 15, 16, 17, 18, 19)), ("6304", (16, 18, 19)), ("6759", (12, 16, 19)),  # Maestro
    ("50", (12, 13, 16, 19)), ("56", (12, 16, 19)), ("58", (13, 16, 19)), ("67", (12, 13, 16, 19)),
    ("6521", (16,)), ("60", (16,)), ("81", (16,)), ("82", (16,)),  # RuPay
    ("6011", (16, 19)), ("65", (16, 19)), ("644", (16, 19)),  # Discover
    ("3528", (16, 17, 18, 19)), ("3589", (16, 19)),  # JCB
    ("36", (14,)), ("300", (14, 16)), ("38", (14, 16)), ("39", (14, 19)),  # Diners
    ("4", (13, 16, 19)), ("2221", (16,)), ("2720", (16,)), ("51", (16,)), ("55", (16,)),
    ("34", (15,)), ("37", (15,)),
    ("506099", (16, 18, 19)), ("650002", (16, 18, 19)),  # Verve
    ("9792", (16,)),  # Troy
    ("357", (16,)), ("1800", (15,)), ("2131", (15,)),  # JCB (old 15-digit)
]


def group(digits: str, sep: str, rnd: random.Random) -> str:
    n = len(digits)
    if n == 15 and rnd.random() < 0.6:
        sizes = [4, 6, 5]
    elif n == 14 and rnd.random() < 0.5:
        sizes = [4, 6, 4]
    else:
        sizes = [4] * (n // 4) + ([n % 4] if n % 4 else [])
    out, i = [], 0
    for s in sizes:
        out.append(digits[i:i + s])
        i += s
    return sep.join(out)


def card_values(rnd: random.Random, fake: Faker, n: int) -> list[tuple[str, str]]:
    """(group, value)"""
    out = []
    brands = ["amex", "diners", "discover", "jcb15", "jcb16", "maestro", "mastercard", "visa13", "visa16", "visa19"]
    for i in range(n):
        if i % 2 == 0:
            digits = fake.credit_card_number(brands[(i // 2) % len(brands)])
            tag = "card_faker"
        else:
            prefix, lengths = IIN_RANGES[(i // 2) % len(IIN_RANGES)]
            length = rnd.choice(lengths)
            body = prefix + "".join(rnd.choice(string.digits) for _ in range(length - len(prefix) - 1))
            digits = luhn_complete(body)
            tag = f"card_{length}"
        style = rnd.random()
        if style < 0.3:
            value = digits
        elif style < 0.85:
            value = group(digits, rnd.choice(SEPARATORS), rnd)
        else:
            value = group(digits, rnd.choice([" ", "-", ""]), rnd).translate(FULLWIDTH)
            tag = "card_fullwidth"
        out.append((tag, value))
    return out


CARD_TEMPLATES = ["card {v}", "Pay with {v} please.", "my card number is {v}", "Card: {v} exp 12/29",
                  "Charged {v} yesterday.", "Kartennummer {v}", "numéro de carte {v}", "{v} is my Visa"]

PHONE_CUE = ["Call me at {v}.", "phone: {v}", "Tel. {v}", "Mobile: {v}", "call {v} after 6pm",
             "My phone number is {v}", "Telefon: {v}", "Tél. : {v}", "Reach me on my cell {v}, thanks",
             "text me at {v}", "Phone {v} (office)", "tel:{v}"]
PHONE_NEUTRAL = ["You can reach the office on {v} during the week.", "Contact: {v}",
                 "Ring the front desk, {v}, for help.", "Numéro : {v}", "Rückruf unter {v} bitte",
                 "{v} is the support line"]


def phone_values(rnd: random.Random, n: int) -> list[tuple[str, str, str]]:
    """(group, template, value)"""
    out = []
    for loc in ("en_US", "en_GB", "de_DE", "fr_FR"):
        fake = Faker(loc)
        fake.seed_instance(rnd.randint(0, 2**31))
        for i in range(n):
            value = fake.phone_number()
            tag = f"phone_{loc}"
            r = rnd.random()
            if r < 0.1:
                value = value.translate(FULLWIDTH)
                tag = "phone_fullwidth"
            elif r < 0.15:
                value = value.replace(" ", "\u00a0")
            tpl = rnd.choice(PHONE_CUE if rnd.random() < 0.75 else PHONE_NEUTRAL)
            out.append((tag, tpl, value))
    return out


def iban_values(rnd: random.Random, n: int) -> list[tuple[str, str]]:
    out = []
    locs = ["de_DE", "fr_FR", "en_GB", "nl_NL", "es_ES", "it_IT"]
    fakes = []
    for loc in locs:
        f = Faker(loc)
        f.seed_instance(rnd.randint(0, 2**31))
        fakes.append(f)
    for i in range(n):
        v = fakes[i % len(fakes)].iban()
        style = i % 5
        if style == 0:
            tag = "iban_compact"
        elif style == 1:
            v = " ".join(v[j:j + 4] for j in range(0, len(v), 4))
            tag = "iban_grouped"
        elif style == 2:
            v = " ".join(v[j:j + 4] for j in range(0, len(v), 4)).lower()
            tag = "iban_lower"
        elif style == 3:
            cuts, j = [], 0
            while j < len(v):
                k = rnd.randint(2, 6)
                cuts.append(v[j:j + k])
                j += k
            v = " ".join(cuts)
            tag = "iban_irregular"
        else:
            v = v.lower()
            tag = "iban_lower"
        out.append((tag, v))
    return out


IBAN_TEMPLATES = ["IBAN: {v}", "Please transfer to {v} by Friday.", "my iban is {v}", "Konto {v}", "RIB/IBAN {v}"]


def _digits(rnd, k):
    return "".join(rnd.choice(string.digits) for _ in range(k))


def nino(rnd: random.Random) -> str:
    first = "ABCEGHJKLMNOPRSTWXYZ"
    second = "ABCEGHJKLMNPRSTWXYZ"
    while True:
        p = rnd.choice(first) + rnd.choice(second)
        if p not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
            break
    d = _digits(rnd, 6)
    s = rnd.choice("ABCD")
    return rnd.choice([f"{p}{d}{s}", f"{p} {d[:2]} {d[2:4]} {d[4:]} {s}", f"{p} {d} {s}"])


def de_idnr(rnd: random.Random) -> str:
    from stdnum.de import idnr

    while True:
        body = _digits(rnd, 10)
        if body[0] == "0":
            continue
        for c in string.digits:
            if idnr.is_valid(body + c):
                v = body + c
                return rnd.choice([v, f"{v[:2]} {v[2:5]} {v[5:8]} {v[8:]}"])


def fr_nir(rnd: random.Random) -> str:
    from stdnum.fr import nir

    while True:
        body = rnd.choice("12") + f"{rnd.randint(40, 99):02d}{rnd.randint(1, 12):02d}" + \
            f"{rnd.randint(1, 95):02d}" + _digits(rnd, 3) + _digits(rnd, 3)
        v = body + nir.calc_check_digits(body)
        if nir.is_valid(v):
            return rnd.choice([v, nir.format(v)])


def vat_id(rnd: random.Random) -> str:
    from stdnum.eu import vat

    shapes = [("DE", 8, 1), ("FR", 9, 0), ("GB", 7, 2), ("IT", 10, 1), ("NL", 8, 1), ("AT", 0, 0)]
    while True:
        cc, body_len, check_len = rnd.choice(shapes)
        if cc == "AT":
            body = "U" + _digits(rnd, 7)
            cands = [body + c for c in string.digits]
        elif cc == "FR":
            body = _digits(rnd, 9)
            cands = [f"{k:02d}" + body for k in range(100)]
        elif cc == "NL":
            body = _digits(rnd, 8)
            cands = [body + c + "B01" for c in string.digits]
        else:
            body = _digits(rnd, body_len)
            cands = [body + "".join(x) for x in
                     (((a,) for a in string.digits) if check_len == 1 else
                      ((a, b) for a in string.digits for b in string.digits))]
        for c in cands:
            if vat.is_valid(cc + c):
                return cc + c


def passport(rnd: random.Random, fake: Faker) -> str:
    return rnd.choice([fake.passport_number(), _digits(rnd, 9), rnd.choice("XCFGHJK") + _digits(rnd, 8)])


ID_TEMPLATES = {
    "uk_nino": ["National Insurance number: {v}", "my NI number is {v}", "NINO {v}"],
    "de_tax_id": ["Steuer-ID: {v}", "Steueridentifikationsnummer {v}", "my German tax id is {v}"],
    "fr_nir": ["numéro de sécurité sociale : {v}", "NIR {v}", "my French social security number is {v}"],
    "vat_id": ["VAT number {v}", "USt-IdNr.: {v}", "TVA intracommunautaire {v}", "VAT: {v}"],
    "passport": ["passport number {v}", "Passport: {v}", "my passport no. is {v}"],
}


def url_value(rnd: random.Random, fake: Faker) -> str:
    r = rnd.random()
    if r < 0.3:
        return fake.url()  # ends with "/"
    if r < 0.6:
        return fake.uri()
    return fake.url() + fake.uri_path() + "/"


URL_TEMPLATES = ["see {v}", "Docs at {v} for details.", "profile: {v}", "({v})", "link {v}, thanks"]


def aws_secret(rnd: random.Random) -> tuple[str, str]:
    value = "".join(rnd.choice(string.ascii_letters + string.digits + "/+") for _ in range(39)) + rnd.choice("AbZ9")
    label = rnd.choice(["aws_secret_access_key = ", "AWS_SECRET_ACCESS_KEY=", '"SecretAccessKey": "',
                        "secret_key: "])
    return label, value


HARD_NEGATIVES = [
    "Upgraded to v1.2.3.4 last week", "version 10.4.2 and 2.0.0-rc.1 are out", "build 2023.11.0142 passed",
    "ISBN 978-3-16-148410-0", "ISBN-13: 978-0-306-40615-7", "ISBN 0-306-40615-2", "isbn 9780306406157",
    "order #123456789012 shipped", "Order number 4155552671 shipped", "ticket 100234 closed",
    "invoice 2024-000123", "ref 20240315-0042", "tracking 1Z999AA10123456784",
    "created at 1700000000", "ts=1699999999123", "unix time 1712345678 s", "epoch ms 1712345678901",
    "commit 3f9c2a7b1e4d8f0a6c5b9e2d7f1a3c8b4e6d0f2a", "fixed in a1b2c3d", "sha 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "request 550e8400-e29b-41d4-a716-446655440000", "uuid: 123e4567-e89b-12d3-a456-426614174000",
    "weights = [0.1234, 0.5678, 0.9012, 0.3456]", "coords 48.8566, 2.3522", "array([1.0, 2.5, 3.75, 4.125])",
    "on 2024-03-15 at 12:30:45", "Termin am 01.02.2024 um 14:30", "le 15/03/2024 à 10h", "12/05/2025",
    "price $1,234.56 or 1.234,56 EUR", "total: 12 345 678", "population 67 390 000",
    "x = 4111 + 1111 - 1111 * 1111", "for i in range(1000000): pass", "port 8080 and 5432",
    "lat 51.5074 lon -0.1278", "Build ID 20240315123045", "CVE-2024-12345", "RFC 7231 section 6.5.1",
    "error 0x80070005", "serial SN-2024-00042", "PO 450012345678", "EAN 4006381333931",
    "matrix 1 2 3 4 5 6 7 8 9 10 11 12", "the years 1999 2000 2001 2002", "score 98.6 95.2 91.0 88.4",
    "SKU 00012345678905", "GTIN 10614141000415", "account 12345678 sort code 12-34-56",
    "python 3.11.7 numpy 1.26.4 torch 2.1.0", "2001:0db8 is not a full address", "chmod 0755 file",
    "md5 d41d8cd98f00b204e9800998ecf8427e", "id: 64b7f3a2e1c9d8f0a1b2c3d4", "page 12 of 340",
    "Zip 90210, 10001 and 75008", "temperature 21.5 22.0 22.5 23.0", "hash 0123456789abcdef0123456789abcdef",
    "phone numbers have 10 digits", "call the function 3 times", "tel.no field is empty",
    "Rechnung Nr. 2024-0815-4711", "commande n° 2024031500123", "Kundennummer 0815 4711",
    "log line 2024-03-15T12:30:45.123Z INFO ok", "duration 00:12:34.567", "IP-less host build-01-02-03",
    "frames 0001 0002 0003 0004", "dims 1920x1080 and 3840x2160", "ratio 16:9, 4:3", "bytes 0xdeadbeef",
]


def hard_negatives(rnd: random.Random, n: int) -> list[str]:
    out = list(HARD_NEGATIVES)
    while len(out) < n:
        r = rnd.random()
        if r < 0.15:
            out.append(f"v{rnd.randint(0, 20)}.{rnd.randint(0, 30)}.{rnd.randint(0, 99)}.{rnd.randint(0, 999)}")
        elif r < 0.3:
            out.append(f"order #{_digits(rnd, rnd.choice([10, 12, 14]))} is on its way")
        elif r < 0.4:
            out.append(f"at {rnd.randint(1_500_000_000, 1_800_000_000)} the job ran")
        elif r < 0.5:
            out.append("commit " + "".join(rnd.choice("0123456789abcdef") for _ in range(40)))
        elif r < 0.6:
            import uuid

            out.append(f"id {uuid.UUID(int=rnd.getrandbits(128), version=4)}")
        elif r < 0.7:
            out.append("[" + ", ".join(f"{rnd.uniform(-10, 10):.4f}" for _ in range(rnd.randint(3, 8))) + "]")
        elif r < 0.8:
            out.append(f"on {rnd.randint(2000, 2030)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d} "
                       f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}")
        elif r < 0.9:
            out.append(f"ISBN 978-{rnd.randint(0, 9)}-{_digits(rnd, 4)}-{_digits(rnd, 4)}-{rnd.randint(0, 9)}")
        else:
            out.append(f"Termin {rnd.randint(1, 28):02d}.{rnd.randint(1, 12):02d}.{rnd.randint(2000, 2030)}")
    return out


# ----------------------------------------------------------------------------- the set
def build(n: int, seed: int = SEED):
    """Rows (group, kind, text, start, end); kind None for a hard negative."""
    rnd = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rows = []

    def put(group, kind, tpl, value):
        i = tpl.index("{v}")
        text = tpl[:i] + value + tpl[i + 3:]
        rows.append((group, kind, text, i, i + len(value)))

    for group_, tpl, v in phone_values(rnd, n):
        put(group_, "phone", tpl, v)
    for group_, v in card_values(rnd, fake, 2 * n):
        put(group_, "credit_card", rnd.choice(CARD_TEMPLATES), v)
    for group_, v in iban_values(rnd, n):
        put(group_, "iban", rnd.choice(IBAN_TEMPLATES), v)
    gens = {"uk_nino": nino, "de_tax_id": de_idnr, "fr_nir": fr_nir, "vat_id": vat_id,
            "passport": lambda r: passport(r, fake)}
    for kind, gen in gens.items():
        for _ in range(n // 3):
            put(kind, kind, rnd.choice(ID_TEMPLATES[kind]), gen(rnd))
    for _ in range(n // 2):
        put("url", "url", rnd.choice(URL_TEMPLATES), url_value(rnd, fake))
    for _ in range(n // 3):
        label, value = aws_secret(rnd)
        tail = '"' if label.endswith('"') else ""
        put("aws_secret_key", "aws_secret_key", label + "{v}" + tail, value)
    for text in hard_negatives(rnd, 2 * n):
        rows.append(("hard_negative", None, text, 0, 0))
    return rows


def score(guard, rows):
    tp, gold, pred = Counter(), Counter(), Counter()
    hidden, gtotal = Counter(), Counter()
    false_alarms = 0
    t0 = time.perf_counter()
    for group_, kind, text, a, b in rows:
        d = guard.check(text, stage="input")
        spans = [(r.start, r.end, r.kind) for r in d.redactions]
        if kind is None:
            if spans:
                false_alarms += 1
            continue
        gold[kind] += 1
        gtotal[group_] += 1
        for s, e, k in spans:
            pred[k] += 1
        if (a, b, kind) in spans:
            tp[kind] += 1
            hidden[group_] += 1
    secs = time.perf_counter() - t0
    kinds = sorted(set(gold) | set(pred))
    table = {}
    for k in kinds:
        p = tp[k] / pred[k] if pred[k] else 0.0
        r = tp[k] / gold[k] if gold[k] else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        table[k] = {"gold": gold[k], "pred": pred[k], "tp": tp[k], "precision": round(p, 3),
                    "recall": round(r, 3), "f1": round(f, 3)}
    groups = {g: round(hidden[g] / gtotal[g], 3) for g in sorted(gtotal)}
    all_tp, all_gold, all_pred = sum(tp.values()), sum(gold.values()), sum(pred.values())
    p = all_tp / all_pred if all_pred else 0.0
    r = all_tp / all_gold if all_gold else 0.0
    return {"kinds": table, "groups_exact_recall": groups,
            "typed_exact_f1": round(2 * p * r / (p + r) if p + r else 0.0, 3),
            "hard_negatives": sum(1 for row in rows if row[1] is None), "false_alarms": false_alarms,
            "seconds": round(secs, 2), "texts": len(rows)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=150, help="values per group (default 150)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--json", help="also write the numbers to this file")
    ap.add_argument("--throughput", action="store_true",
                    help="also time `use pii` on 5,000 texts of the reference workload (CPU time, best of 7)")
    args = ap.parse_args(argv)
    if args.throughput:
        sys.path.insert(0, str(ROOT / "bench"))
        import workload

        texts = workload.sample(5000)
        mb = sum(len(t.encode()) for t in texts) / 1e6
        g = policylang.loads('policy t "t"\nuse pii\nrule r on input:\n    when pii\n    redact "[{kind}]"\n')
        g.check_many(texts[:200])
        best = float("inf")
        for _ in range(7):
            t0 = time.process_time()
            g.check_many(texts)
            best = min(best, time.process_time() - t0)
        print(f"use pii: {mb / best:.1f} MB/s ({len(texts)} texts, {mb:.2f} MB, CPU time, best of 7)")
    rows = build(args.n, args.seed)
    guard = policylang.loads(POLICY)
    res = score(guard, rows)
    print(f"{'kind':<16}{'gold':>6}{'pred':>6}{'P':>8}{'R':>8}{'F1':>8}")
    for k, v in res["kinds"].items():
        print(f"{k:<16}{v['gold']:>6}{v['pred']:>6}{v['precision']:>8.3f}{v['recall']:>8.3f}{v['f1']:>8.3f}")
    print("exact recall per group:", json.dumps(res["groups_exact_recall"]))
    print(f"typed exact F1 {res['typed_exact_f1']:.3f}; false alarms {res['false_alarms']} of "
          f"{res['hard_negatives']} hard negatives; {res['texts']} texts in {res['seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
