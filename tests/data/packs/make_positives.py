"""Regenerate pii_positive.txt and secrets_positive.txt (deterministic; values are fake).

    python tests/data/packs/make_positives.py

Line format: ``KIND<TAB>TEXT``; the value the pack must redact is marked ``«...»`` in
TEXT (the markers are removed before the check) and ``\\n`` stands for a newline.
PII values come from Faker (seeded) or are built here (Luhn-valid cards, mod-97-valid
IBANs); secret values are random strings in each provider's documented format.
jailbreak_positive.txt is written by hand; its obfuscated section is generated from it
by ``obfuscate()`` (zero-width characters, Cyrillic homoglyphs, fullwidth forms, base64).
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

from faker import Faker

HERE = Path(__file__).parent
R = random.Random(20240315)
ALNUM = string.ascii_letters + string.digits


def rs(n: int, alphabet: str = ALNUM) -> str:
    return "".join(R.choice(alphabet) for _ in range(n))


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(R.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, c in enumerate(reversed(body)):
        n = int(c)
        if i % 2 == 0:
            n *= 2
            n -= 9 if n > 9 else 0
        total += n
    return body + str((10 - total % 10) % 10)


def group(s: str, sizes, sep: str) -> str:
    out, i = [], 0
    for n in sizes:
        out.append(s[i:i + n])
        i += n
    if i < len(s):
        out.append(s[i:])
    return sep.join(p for p in out if p)


def iban(country: str, bban: str) -> str:
    num = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(num) % 97
    return f"{country}{check:02d}{bban}"


# ---------------------------------------------------------------------------- PII
def pii_lines() -> list[str]:
    fk = Faker("en_US")
    Faker.seed(1234)
    out: list[str] = []

    def add(kind: str, text: str) -> None:
        assert text.count("«") == 1, text
        out.append(f"{kind}\t{text}")

    email_t = ["Please send the contract to «{}» by Friday.", "Contact: «{}»", "cc «{}», thanks!",
               "Her new address is «{}».", "<«{}»> wrote:", "reply-to=«{}»; lang=en"]
    for i in range(18):
        e = [fk.email(), fk.company_email(), fk.free_email()][i % 3]
        if i % 6 == 5:
            user, dom = e.split("@")
            e = f"{user}+news@mail.{dom}"
        add("email", email_t[i % len(email_t)].format(e))

    phone_t = ["Call me at «{}» after six.", "Phone: «{}»", "You can reach our desk on «{}».",
               "my cell is «{}», text first", "Tel. «{}» (office)", "Emergency contact «{}»."]
    nanp = []
    for _ in range(9):
        a, b, c = R.randint(201, 989), R.randint(201, 989), R.randint(0, 9999)
        nanp.append((f"{a}", f"{b}", f"{c:04d}"))
    formats = ["({0}) {1}-{2}", "{0}-{1}-{2}", "{0}.{1}.{2}", "+1 {0} {1} {2}", "+1-{0}-{1}-{2}",
               "1-{0}-{1}-{2}", "+1 ({0}) {1}-{2}", "({0}){1}-{2}", "+1{0}{1}{2}"]
    for i, (a, b, c) in enumerate(nanp):
        add("phone", phone_t[i % len(phone_t)].format(formats[i].format(a, b, c)))
    intl = ["+44 20 7946 0958", "+44 7700 900123", "+33 1 48 38 52 80", "+33 6 12 34 56 78",
            "+49 30 12345678", "+49 171 2345678", "+34 612 345 678", "+39 06 6982 1234",
            "+31 20 555 1234", "+91 98765 43210", "+61 2 9374 4000", "+81 3-1234-5678",
            "+55 11 91234-5678", "+86 138 0013 8000", "+353 1 234 5678", "+27 21 555 1234",
            "+919876543210", "+447700900123"]
    for i, p in enumerate(intl):
        add("phone", phone_t[(i + 3) % len(phone_t)].format(p))
    add("phone", "my mobile number is «4155552671»")
    add("phone", "whatsapp: «+5511912345678»")

    ssn_t = ["SSN «{}» on the W-2.", "social security number: «{}»", "Applicant SSN «{}»",
             "her ssn is «{}» ok", "«{}» is the employee's SSN"]
    for i in range(12):
        s = fk.ssn()
        if i % 4 == 3:
            add("us_ssn", f"SSN: «{s.replace('-', '')}» verified")
        else:
            add("us_ssn", ssn_t[i % len(ssn_t)].format(s))

    card_t = ["Card number «{}», exp 09/28", "pay with «{}» please", "charged to «{}».",
              "my visa is «{}»", "CC# «{}» CVV on the back"]
    cards = [("4", 16, (4, 4, 4, 4)), ("4", 13, (4, 4, 5)), ("51", 16, (4, 4, 4, 4)),
             ("55", 16, (4, 4, 4, 4)), ("2221", 16, (4, 4, 4, 4)), ("34", 15, (4, 6, 5)),
             ("37", 15, (4, 6, 5)), ("6011", 16, (4, 4, 4, 4)), ("65", 16, (4, 4, 4, 4)),
             ("3528", 16, (4, 4, 4, 4)), ("36", 14, (4, 6, 4)), ("62", 19, (4, 4, 4, 4, 3))]
    for i in range(20):
        pre, n, sizes = cards[i % len(cards)]
        num = luhn_complete(pre, n)
        sep = ["", " ", "-"][i % 3]
        add("credit_card", card_t[i % len(card_t)].format(group(num, sizes, sep) if sep else num))

    iban_t = ["IBAN: «{}»", "Please transfer to «{}» (Acme GmbH).", "account «{}»",
              "Beneficiary IBAN «{}», BIC DEUTDEFF"]
    ibans = [iban("DE", rs(18, string.digits)), iban("FR", rs(10, string.digits) + rs(11, string.ascii_uppercase + string.digits) + rs(2, string.digits)),
             iban("GB", rs(4, string.ascii_uppercase) + rs(14, string.digits)), iban("ES", rs(20, string.digits)),
             iban("IT", "X" + rs(22, string.digits)), iban("NL", rs(4, string.ascii_uppercase) + rs(10, string.digits)),
             iban("BE", rs(12, string.digits)), iban("CH", rs(17, string.digits)), iban("NO", rs(11, string.digits)),
             iban("PL", rs(24, string.digits)), iban("AT", rs(16, string.digits)), iban("IE", rs(4, string.ascii_uppercase) + rs(14, string.digits))]
    for i, v in enumerate(ibans):
        add("iban", iban_t[i % len(iban_t)].format(group(v, [4] * 9, " ") if i % 2 else v))

    ip_t = ["login from «{}» failed", "client=«{}» status=403", "The printer is at «{}».",
            "blocked «{}» after 5 attempts", "ssh admin@«{}»"]
    for i in range(12):
        while True:
            v = fk.ipv4_public() if i % 3 else fk.ipv4_private()
            if int(v.split(".")[0]) >= 10 and not v.startswith("127."):
                break
        add("ip_address", ip_t[i % len(ip_t)].format(v))
    for i in range(4):
        add("ip_address", ip_t[i].format(fk.ipv6()))
    for v in ("2001:db8:85a3::8a2e:370:7334", "fe80::1ff:fe23:4567:890a", "2a01:4f8:c17:b8f::2"):
        add("ip_address", f"peer «{v}» connected")

    url_t = ["see «{}» for details", "Profile: «{}»", "(link: «{}»)", "I uploaded it to «{}».", "open «{}» now"]
    for i in range(12):
        u = [fk.uri(), fk.url(), f"https://{fk.domain_name()}/users/{fk.user_name()}?ref={rs(6)}"][i % 3].rstrip("/")
        add("url", url_t[i % len(url_t)].format(u))
    add("url", "Download: «http://10.0.0.5:8080/files/report.pdf»")

    for i in range(14):
        d = fk.date_of_birth(minimum_age=18, maximum_age=90)
        forms = [d.strftime("%Y-%m-%d"), d.strftime("%m/%d/%Y"), d.strftime("%d.%m.%Y"),
                 d.strftime("%B %d, %Y"), f"{d.day} {d.strftime('%B %Y')}", d.strftime("%b %d %Y"), d.strftime("%d/%m/%y")]
        f = forms[i % len(forms)]
        t = ["Patient DOB: «{}» allergies: none", "Date of birth: «{}»", "I was born on «{}».",
             "D.O.B. «{}»", "Birthdate «{}», place: Lyon", "member born «{}»", "Her birthday is «{}»"][i % 7]
        add("date_of_birth", t.format(f))

    for i in range(12):
        p = [fk.passport_number(), f"{R.randint(10, 99)}{rs(2, string.ascii_uppercase)}{R.randint(10000, 99999)}",
             "C" + rs(8, "0123456789CFGHJKLMNPRTVWXYZ"), f"{R.randint(100000000, 999999999)}"][i % 4]
        t = ["passport number «{}»", "Passport No. «{}», issued 2019", "Traveller passport: «{}»",
             "my passport is «{}»", "PASSPORT # «{}»", "passport nr «{}»"][i % 6]
        add("passport", t.format(p))
    return out


# ---------------------------------------------------------------------------- national ids
def pii_id_lines() -> list[str]:
    """UK NINO, German tax id, French NIR, EU VAT numbers: valid checksums (python-stdnum).

    Its own random source, so the lines of ``pii_lines`` stay as they were."""
    from stdnum.de import idnr
    from stdnum.eu import vat
    from stdnum.fr import nir

    r = random.Random(20261203)
    d = lambda k: "".join(r.choice(string.digits) for _ in range(k))  # noqa: E731
    out: list[str] = []
    for i in range(4):
        p = r.choice(["AB", "CE", "JG", "PR", "WX", "SC"]) + d(6) + r.choice("ABCD")
        t = ["National Insurance number: «{}»", "NI no. «{}» on the payslip", "NINO «{}»", "my NI number is «{}»"][i]
        out.append("uk_nino\t" + t.format(p if i % 2 else f"{p[:2]} {p[2:4]} {p[4:6]} {p[6:8]} {p[8]}"))
    for i in range(4):
        while True:
            body = str(r.randint(1, 9)) + d(9)
            v = next((body + c for c in string.digits if idnr.is_valid(body + c)), None)
            if v:
                break
        t = ["Steuer-ID: «{}»", "Steueridentifikationsnummer «{}»", "my tax id is «{}»", "IdNr. «{}»"][i]
        out.append("de_tax_id\t" + t.format(v if i % 2 else f"{v[:2]} {v[2:5]} {v[5:8]} {v[8:]}"))
    for i in range(4):
        body = r.choice("12") + f"{r.randint(40, 99):02d}{r.randint(1, 12):02d}{r.randint(1, 95):02d}" + d(6)
        v = body + nir.calc_check_digits(body)
        t = ["numéro de sécurité sociale : «{}»", "NIR «{}»", "French social security number «{}»", "n° SS «{}»"][i]
        out.append("fr_nir\t" + t.format(nir.format(v) if i % 2 else v))
    for i in range(4):
        cc = ["DE", "FR", "IT", "NL"][i]
        while True:
            if cc == "FR":
                b = d(9)
                v = next((cc + f"{k:02d}" + b for k in range(100) if vat.is_valid(cc + f"{k:02d}" + b)), None)
            elif cc == "NL":
                b = d(8)
                v = next((cc + b + c + "B01" for c in string.digits if vat.is_valid(cc + b + c + "B01")), None)
            else:
                b = d(8 if cc == "DE" else 10)
                v = next((cc + b + c for c in string.digits if vat.is_valid(cc + b + c)), None)
            if v:
                break
        t = ["USt-IdNr.: «{}»", "TVA intracommunautaire «{}»", "Partita IVA «{}»", "btw-nummer «{}»"][i]
        out.append("vat_id\t" + t.format(v))
    return out


# ---------------------------------------------------------------------------- secrets
def jwt() -> str:
    enc = lambda o: base64.urlsafe_b64encode(json.dumps(o, separators=(",", ":")).encode()).rstrip(b"=").decode()
    head = enc({"alg": R.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"})
    body = enc({"sub": str(R.randint(1, 10**9)), "name": rs(8, string.ascii_letters), "iat": R.randint(1.5e9, 1.8e9)})
    sig = rs(R.choice([43, 86, 342]), ALNUM + "-_")
    return f"{head}.{body}.{sig}"


def pem(kind: str) -> str:
    lines = [rs(64, ALNUM + "+/") for _ in range(R.randint(3, 8))] + [rs(R.randint(10, 60), ALNUM + "+/") + "=="]
    label = f"{kind} PRIVATE KEY".strip()
    return f"-----BEGIN {label}-----\\n" + "\\n".join(lines) + f"\\n-----END {label}-----"


def secrets_lines() -> list[str]:
    out: list[str] = []
    B32 = string.ascii_uppercase + "234567"
    B64 = ALNUM + "+/"

    def add(kind: str, text: str) -> None:
        assert text.count("«") == 1, text
        out.append(f"{kind}\t{text}")

    ctx = ["my key «{}» stopped working", "found «{}» in the logs", "`{}`", "token=«{}»&x=1",
           "Here it is: «{}»", "\"key\": \"«{}»\"", "revoke «{}» now"]
    ctx = [c if "«" in c else c.replace("{}", "«{}»") for c in ctx]

    def many(kind, make, n, contexts=ctx):
        for i in range(n):
            add(kind, contexts[i % len(contexts)].format(make()))

    no_assign = [c for c in ctx if "=" not in c and ":" not in c]
    many("aws_access_key", lambda: R.choice(["AKIA", "ASIA"]) + rs(16, B32), 8, no_assign)
    add("aws_access_key", "export AWS_ACCESS_KEY_ID=«AKIA" + rs(16, B32) + "»")
    for t in ["aws_secret_access_key = «{}»", "AWS_SECRET_ACCESS_KEY=«{}»", "\"SecretAccessKey\": \"«{}»\",",
              "export AWS_SECRET_ACCESS_KEY=\"«{}»\"", "secret_key: «{}»", "aws_secret_key='«{}»'"]:
        add("aws_secret_key", t.format(rs(40, B64)))
    many("gcp_api_key", lambda: "AIza" + rs(35, ALNUM + "-_"), 6, no_assign)
    for _ in range(4):
        add("azure_key", "DefaultEndpointsProtocol=https;AccountName=acme;«AccountKey=" + rs(86, B64) + "==»;EndpointSuffix=core.windows.net")
    add("azure_key", "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=root;«SharedAccessKey=" + rs(43, B64) + "=»")
    many("github_token", lambda: R.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + rs(36), 8, no_assign)
    many("github_token", lambda: "github_pat_" + rs(22) + "_" + rs(59), 3, no_assign)
    many("gitlab_token", lambda: "glpat-" + rs(20, ALNUM + "_-") + rs(1), 6, no_assign)
    many("slack_token", lambda: f"xox{R.choice('bpa')}-{R.randint(10**9, 10**12)}-{R.randint(10**11, 10**13)}-" + rs(24), 6, no_assign)
    add("slack_token", "webhook «https://hooks.slack.com/services/T" + rs(8, string.ascii_uppercase + string.digits) + "/B" + rs(10, string.ascii_uppercase + string.digits) + "/" + rs(24) + "»")
    many("stripe_key", lambda: R.choice(["sk_live_", "rk_live_", "pk_live_", "sk_test_"]) + rs(R.choice([24, 99])), 8, no_assign)
    many("openai_key", lambda: "sk-proj-" + rs(156, ALNUM + "_-") + rs(1), 5, no_assign)
    many("openai_key", lambda: "sk-" + rs(48), 3, no_assign)
    many("openai_key", lambda: "sk-" + rs(20) + "T3BlbkFJ" + rs(20), 2, no_assign)
    many("anthropic_key", lambda: "sk-ant-api03-" + rs(93, ALNUM + "_-") + "AA", 3, no_assign)
    for kind in ["RSA", "EC", "OPENSSH", "", "ENCRYPTED", "DSA"]:
        add("private_key", "key follows:\\n«" + pem(kind) + "»\\nend of message")
    add("private_key", "truncated paste: «-----BEGIN RSA PRIVATE KEY-----\\n" + rs(64, B64) + "\\n" + rs(64, B64) + "»")
    many("jwt", jwt, 6, ["Authorization: Bearer «{}»", "cookie session=«{}»; Path=/", "id_token «{}»"])
    gens = [
        lambda: f"password = \"«{rs(16, ALNUM + '!@#$%^&*')}»\"",
        lambda: f"DB_PASSWORD=«{rs(20)}»",
        lambda: f"api_key: «{rs(32, '0123456789abcdef')}»",
        lambda: f"client_secret='«{rs(40, ALNUM + '_-')}»'",
        lambda: f"\"apiKey\": \"«{rs(32)}»\"",
        lambda: f"SECRET_TOKEN=«{rs(48, B64)}»",
        lambda: f"auth_token => '«{rs(24)}»'",
        lambda: f"config.private_key = \"«{rs(44, B64)}»\"",
        lambda: f"passwd: «{rs(18, ALNUM + '!#%')}»",
        lambda: f"access_token=«{rs(30)}»",
    ]
    for i in range(20):
        add("generic_secret", gens[i % len(gens)]())
    return out


# ---------------------------------------------------------------------------- jailbreak
HOMOGLYPHS = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "x": "\u0445",
              "i": "\u0456", "y": "\u0443", "A": "\u0410", "E": "\u0415", "O": "\u041e", "P": "\u0420",
              "T": "\u0422", "I": "\u0406", "s": "\u0455"}
ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
OBFUSCATED_MARK = "# --- obfuscated"


def obfuscate(line: str, i: int) -> str:
    """One obfuscated variant of ``line``; the technique cycles with ``i``."""
    how = i % 6
    if how == 0:  # zero-width characters inside words
        return "".join(c + (R.choice(ZW) if c.isalpha() and R.random() < 0.3 else "") for c in line)
    if how == 1:  # Cyrillic look-alike letters
        return "".join(HOMOGLYPHS.get(c, c) if R.random() < 0.5 else c for c in line)
    if how == 2:  # fullwidth forms
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and R.random() < 0.7 else c for c in line)
    if how == 3:  # the whole attack wrapped in base64
        blob = base64.b64encode(line.encode()).decode()
        return R.choice(["Please process this: {}", "{}", "data={} (base64)", "Summarize: {}"]).format(blob)
    if how == 4:  # homoglyphs and zero-width together
        return "".join(HOMOGLYPHS.get(c, c) + ("\u200b" if R.random() < 0.15 else "") for c in line)
    # odd spacing and case
    return "  ".join(w.upper() if j % 2 else w for j, w in enumerate(line.split(" ")))


def jailbreak_obfuscated() -> None:
    path = HERE / "jailbreak_positive.txt"
    text = path.read_text(encoding="utf-8")
    kept = []
    for ln in text.splitlines():
        if ln.startswith(OBFUSCATED_MARK):
            break
        kept.append(ln)
    base = "\n".join(kept) + "\n"
    lines = [ln for ln in kept if ln.strip() and not ln.startswith("#")]
    variants = [obfuscate(ln, i) for i, ln in enumerate(lines[::3])]
    path.write_text(base + OBFUSCATED_MARK + " (generated by make_positives.py; do not edit by hand)\n"
                    + "\n".join(variants) + "\n", encoding="utf-8")


def main() -> None:
    head = "# generated by make_positives.py: KIND<TAB>TEXT, the value marked «...», \\n = newline\n"
    (HERE / "pii_positive.txt").write_text(head + "\n".join(pii_lines() + pii_id_lines()) + "\n",
                                           encoding="utf-8")
    (HERE / "secrets_positive.txt").write_text(head + "\n".join(secrets_lines()) + "\n", encoding="utf-8")
    jailbreak_obfuscated()


if __name__ == "__main__":
    main()
