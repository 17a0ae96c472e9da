"""Redaction of personal data in free text, as pure polars: frames in, frames and counts out.

Customers write their e-mail address, phone number, card number, bank details and home
address into survey comments. None of it may reach a mart, a BI-facing quarantine export, a
report or a log, so comments are redacted right after they are read; only the immutable raw
zone keeps the original text.

Each kind of value is replaced by a typed placeholder (``[EMAIL]``, ``[CARD]``, ...), so an
analyst still sees that the customer left contact details, and the counts go into the
partition manifest. Kinds run in a fixed order: e-mail first (addresses contain digits),
IP addresses next (dotted digits a phone check would read), customer numbers and dates of
birth after a word naming them, and addresses written out ("tom[at]example[dot]org") next
(:func:`redact_cued_values`: a date or a customer number can read as a phone), then the
numbers (IBAN and
account numbers, national identity numbers, cards, phones: an IBAN's digits can pass a
card's check, a French NIR's too) and postal addresses last (a house number is not a phone
number).

Where the rules come from:

* **Phone numbers**: Google's libphonenumber (``phonenumbers``), region by region. A number
  written with ``+`` or an international prefix is checked against its own country's
  numbering plan; one written in national form is read in the source's country
  (``region``, ISO 3166 alpha-2, default ``"GB"``), or in the row's own where the export
  gives each row's country (``row_regions``, :func:`row_region`: one source covering
  several countries, whose "le 01 42 68 53 00 sonne" is a French number on a French row
  only). Leniency is ``VALID``: the number must
  be a valid number of its country, in any grouping (customers do not group digits the way
  the numbering plan does, so the grouping leniencies would let real numbers through).
  libphonenumber's own filters keep slash dates, time stamps and page ranges out; dates with
  dots or dashes (05.10.2026 is a valid German number) and digits glued to an identifier by a
  dash or slash (INV-2026-004417 ends in a valid American number) are skipped here. A valid
  number that is really an order number is still redacted: that costs an analyst a number,
  never leaks one.

  What ``VALID`` lets through, and what is done about it: a *local number without an area
  code* (``555 0137``), a number from a *fictional or unallocated range* (UK drama numbers
  07700 900xxx, North American 555-01xx) and a *foreign number in its national form*
  (``06 12 34 56 78`` in a British comment) are not valid numbers, so a digit run that is
  merely *possible* for the region (its length fits the numbering plan, local-only lengths
  included) is redacted only when a phone word stands just before it (:data:`PHONE_CUE`:
  "call 555 0137", "my mobile: 0612 345678", "Rückruf bitte unter 1234567": the words of
  seven languages). A number so introduced that the region's plan does not match is looked
  for among the valid numbers of a few European countries (:data:`CUED_FALLBACK_REGIONS`:
  a Belgian number in a French source's comment). Without a phone word, such numbers pass,
  and so do numbers of fewer than six digits (extensions, "call 0137"): an order number or
  an amount looks exactly like them.
* **IBANs**: ``python-stdnum``'s ``iban`` validator (each country's length and format, and
  the ISO 7064 mod-97 check digits), on candidates of two letters, two digits and groups
  separated by spaces, dashes or dots.
* **National identity numbers** (``[NATIONAL_ID]``): ``python-stdnum``'s validators. A
  Spanish DNI (``12345678Z``, ``12.345.678-Z``, ``12345678 Z``) or NIE (``X1234567L``),
  whose check letter is right for one number in 23, and a French NIR (``1 85 05 78 006 084
  91``, mod-97 key) are redacted wherever they stand once ``stdnum.es.dni``,
  ``stdnum.es.nie`` or ``stdnum.fr.nir`` accepts them. A Dutch BSN (9 digits, 11-check:
  one 9-digit order number in 11 passes), a German Steuer-ID (11 digits, mod 11,10) and a
  Portuguese NIF (9 digits, mod 11) check too weakly to tell them from order numbers, so
  these, and any identity number, are redacted when a word naming one stands just before
  (:data:`NATIONAL_ID_WORDS`: "BSN", "Steuer-ID", "numéro de sécurité sociale", "DNI",
  "NIF", ...); then the shape suffices (8 to 15 digits, or a DNI's or NIE's), so one
  mistyped still goes. An Italian codice fiscale holds no run of six digits, so the
  pre-filter below never picks its rows; it is not looked for.
* **Card numbers**: 13 to 19 digits that pass ``python-stdnum``'s Luhn check, which every
  payment card passes, so most order numbers of that length (nine in ten) are left alone;
  the decimals of a number (``0.00347222222222222``) are not a card.
* **IPv4 addresses** (``81.2.69.160``, personal data under the GDPR): four dotted numbers
  of 0 to 255 with no more dotted numbers either side; ``ipaddress`` would only confirm
  what the pattern already requires.
* **IPv6 addresses** (``2001:db8::8a2e:370:7334``, ``fe80::1%eth0``, ``::ffff:192.0.2.1``):
  candidates of colon-separated hex groups, each checked by Python's ``ipaddress``
  (RFC 4291's text forms), which turns down times (``10:30:45``), MAC addresses and other
  colon-separated words; they run before IPv4, so an IPv4-mapped address goes whole.
* **E-mail addresses, UK sort codes and account numbers, postal addresses**: patterns. No
  maintained library finds these in free text better: e-mail validators check a string that
  already is an address (finding one in prose is the pattern's job, and an address needs no
  deliverability check to be personal); python-stdnum has no UK sort code or domestic account
  number, which have no check digit a library could verify, so they are redacted only when
  introduced as such ("sort code 12-34-56", "account number 31926819"); and address parsers
  (libpostal) need a 2 GB model and still cannot tell an address in a sentence. The address
  pattern takes a house number with a capitalised street name and a street word as each
  language writes it (221B Baker Street, Hauptstraße 12, Kalverstraat 12, 12 rue de la Paix,
  Calle Mayor 5, Via Roma 10, Rua Augusta 27) with the postcode and town after it, a UK
  postcode, or a continental postcode and town after a comma or "PLZ"/"CP"; a bare town or
  street name, and a postcode and town alone (10115 Berlin: in 10000 Fällen reads the
  same), pass. See :data:`ADDRESS` for the trade-offs.

Speed: the number kinds need per-match work in Python, so a vectorised expression
(:func:`looks_like_number`) first picks the rows with a run of at least six digits that is
not an amount of money; each distinct text among those is redacted once, and libphonenumber
reads only a short window around each digit run. Rows without such a run (most comments)
cost two vectorised pattern replacements and the filter.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

# phonenumbers and stdnum are imported where numbers are checked: commands that import this
# module on their way (the report, queries) must start fast and never check a number.
if TYPE_CHECKING:
    from phonenumbers import PhoneNumberMatch


@dataclass(frozen=True)
class PiiKind:
    """One kind of personal data: how to find candidates and what replaces them."""

    name: str
    placeholder: str
    #: Candidates; for the number kinds each candidate is then verified by a library.
    pattern: str


EMAIL = PiiKind(
    "email",
    "[EMAIL]",
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
)
#: A label of an address written out: letters, digits and inner dashes.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
#: "dot" in brackets ([dot], (dot), {dot}) or a plain dot.
_BRACKET_DOT = r"(?:\s*[\[({]\s*dot\s*[\])}]\s*|\.)"
#: An e-mail address written out so a harvester misses it: "tom[at]example-mail[dot]org",
#: "jane (at) example.com", with "at" in brackets and the domain's dots as dots or bracketed
#: "dot"s; or "jane dot doe at gmail dot com", "at" and "dot" as words, which prose holds
#: too ("look at the dot com bubble"), so then the address must end in one of the common
#: top-level domains written as a word, and no article or pronoun may be its domain.
OBFUSCATED_EMAIL = (
    r"(?i)"
    + _LABEL
    + r"(?:(?:"
    + _BRACKET_DOT
    + r"|\s+dot\s+|[_+\-])"
    + _LABEL
    + r")*(?:\s*[\[({<]\s*at\s*[\])}>]\s*"
    + _LABEL
    + r"(?:"
    + _BRACKET_DOT
    + _LABEL
    + r")*"
    + _BRACKET_DOT
    + r"[a-z]{2,6}"
    + r"|\s+at\s+(?!(?:the|a|an|my|your|our|his|her|their|this|that|its)\s)"
    + r"(?:"
    + _LABEL
    + r"\s+dot\s+)+"
    + r"(?:com|org|net|edu|gov|info|biz|io|co|uk|de|fr|nl|be|es|it|pt|ie|at|ch|eu|lu)"
    + r")\b"
)
#: 13 to 19 digits, optionally grouped by spaces or dashes; kept only if the Luhn check passes.
CARD = PiiKind("card", "[CARD]", r"\b\d(?:[ \-]?\d){12,18}\b")
BANK_ACCOUNT = PiiKind(
    "bank_account",
    "[BANK_ACCOUNT]",
    # A UK sort code, or a number introduced as an account number (IBANs: IBAN_CANDIDATE).
    r"(?i:\bsort[ \-]?code[:#\s]*\d{2}[ \-]?\d{2}[ \-]?\d{2}\b)"
    r"|(?i:\b(?:account|acct|a/c)(?:[ \-]?(?:number|no\.?|num|#))?[:#\s]*\d{6,12}\b)",
)
#: Country code, check digits and 11 to 30 letters or digits in groups (case as typed),
#: separated by a space, a dash or a dot (``DE89-3704-0044-0532-0130-00``, as a customer
#: copies it from a form that groups it so); each candidate is then checked by stdnum's IBAN
#: validator, whose ``compact`` strips those same three separators.
IBAN_CANDIDATE = r"(?i)\b[A-Z]{2}\d{2}(?:[ .\-]?[A-Z0-9]{4}){2,7}(?:[ .\-]?[A-Z0-9]{1,3})?\b"
#: Where something may be a number worth a closer look: six or more digits on one line,
#: possibly split by spaces, dashes, dots, slashes or brackets (at most three in a row).
NUMBER_RUN = r"\d(?:[ \-.()/]{0,3}\d){5,}"
#: An amount of money with two decimals (1,250.00) and what follows it, if not more digits:
#: the commonest digit run in complaints, and never a phone, card or account number.
MONEY = r"\d[\d,]*\.\d{2}(?:$|[^\d.\-/])"
PHONE = PiiKind("phone", "[PHONE]", NUMBER_RUN)
#: Words that introduce a phone number, in English, German, French, Dutch, Spanish, Italian
#: and Portuguese (case as typed, accents or none: "Llamenme", "telemovel", "Rueckruf").
#: Up to three words before a number, they make a number that is only possible (a local
#: number without its area code) count as one. The word for "number" alone introduces order
#: and customer numbers as often, so it counts only as "my number", "under the number"
#: (English keeps "number is"); "bel" only as "bel me" (French and Italian "bel" is "nice").
PHONE_WORDS = (
    r"(?i)\b(?:"
    # English
    r"call|calling|ring|phone|telephone|tel|mobile|mob|cell|landline|text|sms|"
    r"whats ?app|fax|number is|reach me|contact me|"
    # German
    r"telefon\w*|handy\w*|mobil\w*|festnetz\w*|durchwahl|r(?:ü|ue|u)ckruf\w*|anruf\w*|"
    r"rufen sie|ruf mich|zur(?:ü|ue|u)ckrufen|erreichbar|"
    r"(?:meine|unter der|die) nummer|"
    # French
    r"t[ée]l[ée]phone|t[ée]l|portable|appel\w*|rappel\w*|joignable|joindre|"
    r"(?:mon|au|ce) num[ée]ro|"
    # Dutch
    r"telefoon\w*|mobiel\w*|bel (?:me|mij|ons)|bellen|terugbellen|gebeld|"
    r"(?:mijn|op het|op) nummer|"
    # Spanish
    r"tel[ée]fono|m[óo]vil|celular|ll[áa]m(?:enme|eme|ame|ar|en)|llamada|"
    r"(?:mi|al) n[úu]mero|"
    # Italian
    r"telefono|cellulare|chiam\w*|richiam\w*|(?:il mio|al) numero|"
    # Portuguese
    r"telem[óo]vel|telefone|ligar|liguem(?:-me)?|(?:o meu|meu|pelo) n[úu]mero"
    r")\b"
)
#: A Spanish NIE or DNI, or a French NIR (15 digits, sex digit first, grouped as written or
#: not; Corsican departments 2A/2B): each candidate is then checked by python-stdnum
#: (:func:`is_national_id`). A DNI's eight digits are written joined or with thousands dots
#: (12.345.678), its check letter joined, after a dash or after a space; after a space only
#: a capital, since Spanish "y", "a", "e" follow numbers in prose ("12345678 y 23456789"),
#: one time in 23 the right letter.
NATIONAL_ID = PiiKind(
    "national_id",
    "[NATIONAL_ID]",
    r"(?i)(?<![\w/#\-])(?:[XYZ]-?\d{7}-?[A-Z]|"
    r"(?:\d{8}|\d{2}\.\d{3}\.\d{3})(?:-?[A-Z]|(?-i: [A-Z]))|"
    r"[1278](?:[ .\-]?\d{2}){2}[ .\-]?(?:\d{2}|2[AB])(?:[ .\-]?\d{3}){2}[ .\-]?\d{2})"
    r"(?!\w|[.\-]\d)",
)
#: Words that name a national identity number, in any case: the acronyms (NIE only in
#: capitals: German "nie" is "never"; TIN only so: a tin of paint), and the names in full,
#: their parts joined or split by a space or a dash (Burger Service Nummer). A number of the
#: right shape just after one is redacted without its check (see the module's notes); a
#: name mistyped is recognised by :func:`names_national_id`.
NATIONAL_ID_WORDS = (
    r"(?-i:NIE|TIN)|DNI|D\.N\.I\.|NIF|NIR|BSN|IdNr|steuer[\- ]?id\w*|"
    r"(?:steuerliche )?identifikations[\- ]?nummer|s[ée]curit[ée] sociale|s[ée]cu|insee|"
    r"burger[\- ]?service[\- ]?nummer|sofi[\- ]?nummer|documento de identidad|contribuinte"
)
#: The names of :data:`NATIONAL_ID_WORDS` of eight letters or more, lower-cased, spaces and
#: dashes left out: what a mistyped name is compared with.
NATIONAL_ID_NAMES = (
    "burgerservicenummer",
    "sofinummer",
    "steueridentifikationsnummer",
    "identifikationsnummer",
    "steuerlicheidentifikationsnummer",
    "securitesociale",
    "documentodeidentidad",
    "contribuinte",
)
#: How far a word may be from a name of :data:`NATIONAL_ID_NAMES` and still be taken for it
#: (normalised optimal-string-alignment distance, rapidfuzz's ``OSA``: edits over the longer
#: length, two neighbouring letters swapped one edit): one edit in ten letters.
#: Ordinary words before order numbers are much further: "bestelnummer" is 0.53 from
#: "burgerservicenummer", "servicenummer" 0.32, "Steuernummer" 0.56 from the Steuer-ID's.
NATIONAL_ID_NAME_DISTANCE = 0.1
#: Words that may stand between an identity number's name and the number (as in
#: :data:`_NATIONAL_ID_CUED`).
_ID_LINKS = r"is|ist|lautet|est|es|é|nummer|nr|no|n°|number|n[úu]mero|num[ée]ro|le|la|el|o"
#: A number of an identity number's shape after a word of :data:`NATIONAL_ID_WORDS` and
#: at most three short words ("mijn BSN is ...", "Steuer-ID lautet ...", "NIR : le ...").
_NATIONAL_ID_CUED = re.compile(
    r"(?i)(?<!\w)(?:" + NATIONAL_ID_WORDS + r")(?!\w)[\s:.#°º\-]*"
    r"(?:(?:" + _ID_LINKS + r")[\s:.#°º\-]+){0,3}"
    r"(?P<id>[XYZ]?-?\d(?:[ .\-]?\d){6,14}(?:-?[A-Z])?)(?!\w|[.\-]\d)"
)
#: The number of an identity number's shape with no cue word before it, and up to three
#: words and the links before that (group ``words``), for :func:`names_national_id`.
_NATIONAL_ID_DIGITS = re.compile(
    r"(?i)(?<!\w)[XYZ]?-?\d(?:[ .\-]?\d){6,14}(?:-?[A-Z])?(?!\w|[.\-]\d)"
)
#: A DNI's check letter written after a space: a capital alone.
_SPACED_LETTER = re.compile(r" [A-Z](?!\w)")
#: A word, or one character of anything else that is not a space.
_TOKEN = re.compile(r"[^\W\d_]+|\S")
#: What may stand between an identity number's name and the number, as tokens.
_ID_LINK_TOKENS = frozenset(
    {"is", "ist", "lautet", "est", "es", "é", "nummer", "nr", "no", "n", "number", "número"}
    | {"numero", "numéro", "le", "la", "el", "o", ":", ".", "#", "°", "º", "-"}
)
#: What a named identity number may look like once compacted: a NIE, a DNI, or 8 to 15
#: digits (BSN 8-9, Steuer-ID 11, NIF 9, NIR 15).
_NATIONAL_ID_SHAPE = re.compile(r"(?i)[XYZ]\d{7}[A-Z]|\d{8}[A-Z]|\d{8,15}")
#: A phone word at most three words before the end of the text it is searched in.
PHONE_CUE = re.compile(PHONE_WORDS + r"\W*(?:\w+\W+){0,3}$")
#: "Number" in French, Spanish, Italian and Portuguese, in full or as customers abbreviate
#: it: n°, nº, n.º, N°, num., núm., nro., no., nr., n. (the ordinal sign or the degree sign,
#: a dot or none, a space or none).
_NUMBER_WORD = r"(?:n[úu]m[ée]ro|numero|n\.?\s?[°º]|n[úu]m\.|nro\.|nr\.?|no\.|n\.)"
#: Words that introduce a customer number, in the seven languages of :data:`PHONE_WORDS`.
#: "number" alone or "order number" introduce order numbers, which are not personal.
CUSTOMER_NUMBER_WORDS = (
    r"customer (?:number|no\.?|nr\.?|id|ref(?:erence)?|#)|client (?:number|no\.?|nr\.?|id)|"
    r"member(?:ship)? (?:number|no\.?|id)|"
    r"kunden[\- ]?(?:nummer|nr\.?|id|kennung)|kd\.?[\- ]?nr\.?|mitglieds?[\- ]?(?:nummer|nr\.?)|"
    r"nr\.\s?(?:des\s)?kunden?|"
    # French, Spanish, Italian, Portuguese: "N° de client", "n.º cliente", "num. cliente",
    # "número do cliente", "n. socio"
    + _NUMBER_WORD
    + r"\s?(?:(?:de|du|do|da|del)\s)?(?:client|cliente|socio)|"
    r"r[ée]f[ée]rence client|identifiant client|"
    r"klant(?:en)?[\- ]?(?:nummer|nr\.?|id)|lidnummer|"
    r"c[óo]digo (?:de )?cliente|id de cliente|codice cliente"
)
#: Words that introduce a date of birth, in the same languages.
DATE_OF_BIRTH_WORDS = (
    r"born(?: on)?|date of birth|birth ?date|d\.?o\.?b\.?|birthday|"
    r"geboren(?: am| op)?|geburtsdatum|geb\.|"
    r"n[ée]e? le|date de naissance|geboortedatum|"
    r"nacid[oa](?: el)?|fecha de nacimiento|nat[oa] il|data di nascita|"
    r"nascid[oa](?: em| a)?|data de nascimento"
)
#: What may stand between such a word and the value: punctuation and a verb or article.
_CUE_LINK = r"[\s:#°º,\-]*(?:(?:is|ist|lautet|est|es|é|on|am|op|le|el|il|em)[\s:]+)?"
CUSTOMER_NUMBER = PiiKind(
    "customer_number",
    "[CUSTOMER_NUMBER]",
    # The words and link are group 1, put back; the number: four or more digits, after up
    # to four letters (CN88812345, KD-4471239). The words end where a word ends: French
    # "n° client" must not end inside Spanish "n° cliente" and take its "e" for a letter
    # of the number.
    r"(?i)(\b(?:" + CUSTOMER_NUMBER_WORDS + r")(?!\w)" + _CUE_LINK + r")"
    r"(?:[A-Z]{1,4}[\- ]?)?\d(?:[\- ]?\d){3,14}\b",
)
DATE_OF_BIRTH = PiiKind(
    "date_of_birth",
    "[DATE_OF_BIRTH]",
    # The words and link are group 1, put back; the date in digits (14/03/1979, 1979-03-14,
    # 14.03.1979) or with the month in words (14 March 1979, March 14, 1979).
    r"(?i)(\b(?:" + DATE_OF_BIRTH_WORDS + r")" + _CUE_LINK + r")"
    r"(?:\d{1,4}[./\-]\d{1,2}[./\-]\d{2,4}|\d{1,2}\.?\s+[^\W\d_]{3,10}\.?,?\s+\d{4}"
    r"|[^\W\d_]{3,10}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})\b",
)
#: The address pattern's word boundaries are ASCII ones: with Unicode ones, Rust's regex (as
#: polars runs it) leaves its fast engine for any text with a non-ASCII letter, and the
#: pattern took five times as long on 100k comments. They stand only before and after
#: digits and ASCII words; a name's capital needs none.
#: A capitalised name (a street's or a town's), as the street patterns below take it: a
#: capital and a small letter (an acronym is not a name: Via DHL 3 times).
_NAME = r"\p{Lu}\p{Ll}[\p{L}'\-]*"
#: A house number as continental addresses write it: 12, 12a, 12 b, 12-14.
_HOUSE = r"\d{1,4}(?:-\d{1,4}|[ ]?[a-zA-Z](?-u:\b))?"
#: A postcode and its town, after a street: German, French, Spanish and Italian 5 digits,
#: Dutch 4 digits and 2 letters, Portuguese 4-3 digits, Austrian, Swiss and Belgian 4 digits,
#: with a country letter or two (D-10115); the town is one capitalised word.
_POSTCODE_TOWN = r"(?:[A-Z]{1,2}-)?(?:[1-9]\d{3}[ ]?[A-Z]{2}|\d{4}-\d{3}|\d{4,5})\s+" + _NAME
#: The same where nothing but a comma or the word for postcode says it is an address: a
#: bare 4-digit number and a town (2026 Berlin) is left out.
_POSTCODE_TOWN_ALONE = r"(?:[A-Z]{1,2}-)?(?:\d{5}|\d{4}-\d{3}|[1-9]\d{3}[ ]?[A-Z]{2})\s+" + _NAME
#: Articles and prepositions inside Romance street names (rue de la Paix, Carrer d'Aragó).
_PARTICLES = (
    r"(?:(?:de la|de las|de los|de l'|de|del|dels|des|du|la|le|el|da|do|das|dos|di|della|"
    r"dello|dei|delle|degli)\s|[dl]')*"
)
#: German and Dutch streets, the suffix joined (Hauptstraße, Kalverstraat, Hauptstr.) or a
#: word of its own (Berliner Straße); the house number after. These suffixes name a street.
_STREET_NL_DE = (
    r"\p{Lu}[\p{L}\-]*(?:straße|strasse|str\.|gasse|allee|straat|gracht|laan|steeg)"
    r"|(?:\p{Lu}[\p{L}\-]*\s){1,2}(?:Straße|Strasse|Str\.|Gasse|Allee)"
)
#: Suffixes that end other words too (Parkplatz 3, Rückweg 2 Stunden, Umweg): a street only
#: with a postcode and town after it.
_STREET_WEAK = r"\p{Lu}[\p{L}\-]*(?:weg|platz|ring|damm|ufer|plein|kade|dijk|singel)"
#: French streets, the house number first (12 rue de la Paix, 3 bis avenue Foch).
_STREET_FR = (
    r"(?-u:\b)\d{1,4}(?:[ ]?(?:bis|ter|[a-zA-Z]))?,?\s"
    r"(?i:rue|avenue|av\.|boulevard|bd|chemin|place|allée|allee|impasse|quai|route)\s"
    + _PARTICLES
    + _NAME
    + r"(?:\s"
    + _NAME
    + r"){0,2}"
)
#: Spanish, Catalan, Italian and Portuguese streets, the house number after (Calle Mayor 5,
#: Avenida de la Constitución, 12, Via Roma 10, Rua Augusta 27). Via, Viale, Corso only
#: capitalised: English "via" comes before capitalised names and numbers (via DHL 3 times).
_STREET_ROMANCE = (
    r"(?:(?-u:\b)(?i:calle|avenida|avda\.|plaza|paseo|carrer|camino|rua|travessa|praça|praca|"
    r"estrada|piazza|piazzale)|(?-u:\b)(?:Via|Viale|Corso)|(?-u:\b)[Cc]/)\s?"
    + _PARTICLES
    + _NAME
    + r"(?:\s"
    + _PARTICLES
    + _NAME
    + r"){0,3},?\s(?:n[º°o.]\s?)?"
    + _HOUSE
)
#: The letters an Eircode uses (Ireland's postcode): 15 of the alphabet, chosen to be told
#: apart from digits and from each other (no B, G, I, J, L, M, O, Q, S, U, Z), as the
#: Department of Communications' "Using an Eircode" and Eircode's format give them.
_EIRCODE_LETTER = "ACDEFHKNPRTVWXY"
_EIRCODE_CHAR = "[0-9" + _EIRCODE_LETTER + "]"
#: An Irish Eircode: a routing key (a letter of :data:`_EIRCODE_LETTER` and two digits, or
#: Dublin 6 West's ``D6W``) and a unique identifier of four letters or digits of the same
#: set, with one space between or none (``D02 X285``, ``A65F4E2``, ``T12 XE4P``; the format
#: of eircode.ie and of the Department of Communications' "Using an Eircode"). In capitals,
#: as the format writes it; in small letters too when the identifier holds a digit
#: (``d02 x285``): "on the A14 then" and a shouted "N11 THAT DAY" read as an Eircode in
#: capitals only, four letters of the set making English words (then, that, each, card).
#: Near misses pass: a letter outside the set (``A12 B345``, ``B12 C345``, ``D02 XI85``),
#: three or five characters after the key, a dash between, a key glued to a word. A product
#: code that happens to use only the set's letters (``A12 C345``) is taken for an Eircode:
#: a code lost, never an address kept. python-stdnum has no Eircode (``stdnum.ie`` holds the
#: PPS and VAT numbers), and the routing keys (139) are not checked against a list, which
#: would have to follow Eircode's changes.
EIRCODE = (
    r"(?-u:\b)(?:[" + _EIRCODE_LETTER + r"]\d{2}|D6W) ?" + _EIRCODE_CHAR + r"{4}(?-u:\b)"
    r"|(?-u:\b)(?i:(?:[" + _EIRCODE_LETTER + r"]\d{2}|D6W) ?"
    r"(?:\d"
    + _EIRCODE_CHAR
    + r"{3}|"
    + _EIRCODE_CHAR
    + r"\d"
    + _EIRCODE_CHAR
    + r"{2}|"
    + _EIRCODE_CHAR
    + r"{2}\d"
    + _EIRCODE_CHAR
    + r"|"
    + _EIRCODE_CHAR
    + r"{3}\d))(?-u:\b)"
)
ADDRESS = PiiKind(
    "postal_address",
    "[ADDRESS]",
    # A house number and a capitalised street name with a street suffix (English, German,
    # Dutch, French, Spanish, Catalan, Italian, Portuguese), with its postcode and town if
    # they follow; a UK postcode; a continental postcode and town after a comma or the word
    # for postcode (group 1, put back); an Irish Eircode (:data:`EIRCODE`). Anything looser
    # is not reliable enough: a five-digit number and a capitalised word is a German noun as
    # often (in 10000 Fällen), a Dutch postcode's shape a quantity (5000 MB Datenvolumen),
    # so "10115 Berlin" or "1012 NX Amsterdam" alone passes. The comma is the trade-off:
    # "Kosten, 50000 Euro" is taken for an address (an amount lost, never a leak).
    r"((?:,|(?-u:\b)(?i:PLZ|CP|code postal|código postal|CAP|postcode))[ \t:]*)"
    + _POSTCODE_TOWN_ALONE
    + r"|(?-u:\b)\d{1,5}[A-Za-z]?,? (?:[A-Z][a-z]+ ){1,3}"
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Way|Court|Ct|Boulevard|Blvd|"
    r"Place|Pl|Crescent|Terrace|Gardens|Square)(?-u:\b)\.?"
    + r"|(?:(?:"
    + _STREET_NL_DE
    + r")\s"
    + _HOUSE
    + r"|"
    + _STREET_FR
    + r"|"
    + _STREET_ROMANCE
    + r")(?:,?\s"
    + _POSTCODE_TOWN
    + r")?"
    + r"|"
    + _STREET_WEAK
    + r"\s"
    + _HOUSE
    + r",?\s"
    + _POSTCODE_TOWN
    + r"|(?-u:\b)[A-Z]{1,2}\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2}(?-u:\b)"
    + r"|"
    + EIRCODE,
)

#: An IPv4 address: four dotted numbers of 0 to 255 with no more dotted numbers either side
#: (a version string ``1.2.3.4.5`` is not one), the whole range that an address takes.
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IP_ADDRESS = PiiKind(
    "ip_address",
    "[IP]",
    # The text before and after is matched too (no look-around in polars' regex engine) and
    # put back: group 1 and group 3.
    rf"(^|[^\d.])({_OCTET}(?:\.{_OCTET}){{3}})($|[^\d.]|\.$|\.\D)",
)

#: What any IPv4 address holds somewhere: a cheap test before the exact pattern runs.
_DOTTED_QUAD = r"\d\.\d{1,3}\.\d{1,3}\.\d"
#: What any IPv6 address holds somewhere (two colons with at most four hex digits between
#: them): a cheap test, which times (10:30:45) and MAC addresses pass too.
_TWO_COLONS = r":[0-9A-Fa-f]{0,4}:"
#: Where an IPv6 address may be: two to seven colon-separated groups of up to four hex
#: digits, ending in a group or a dotted IPv4 tail (``::ffff:192.0.2.1``), with a zone
#: (``%eth0``), and nothing that continues a word, a number or an address either side.
#: Each candidate is then checked by Python's ``ipaddress`` (RFC 4291's text forms), which
#: turns down times, MAC addresses and other colon-separated words.
_IPV6_CANDIDATE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?"
    r"(?:%[\w\-]+(?:\.[\w\-]+)*)?(?![\w:]|\.\d)"
)

#: The row's own recipient's name (:func:`redact_own_values`): no pattern finds names, the
#: export's name columns say which words are this row's.
PERSON_NAME = PiiKind("person_name", "[NAME]", "the row's own first and last name")

#: In the order they run.
PII_KINDS: tuple[PiiKind, ...] = (
    EMAIL,
    PERSON_NAME,
    IP_ADDRESS,
    CUSTOMER_NUMBER,
    DATE_OF_BIRTH,
    BANK_ACCOUNT,
    NATIONAL_ID,
    CARD,
    PHONE,
    ADDRESS,
)
DEFAULT_REGION = "GB"

#: What any text with an obfuscated address (:data:`OBFUSCATED_EMAIL`), a customer number
#: or a date of birth (:data:`CUSTOMER_NUMBER`, :data:`DATE_OF_BIRTH`) holds: "dot" as a
#: word, "at" in brackets, or a word naming the value with a digit at most 20 characters
#: after it. One vectorised scan picks the rows these kinds' Python patterns then read
#: (Rust's regex finds the words with one literal search; Python's tries each at every
#: character).
_CUED_HINT = (
    r"(?i)(?:" + CUSTOMER_NUMBER_WORDS + "|" + DATE_OF_BIRTH_WORDS + r")\D{0,20}\d"
    r"|(?-u:\b)dot(?-u:\b)|[\[({<]\s*at\s*[\])}>]"
)
_IBAN = re.compile(IBAN_CANDIDATE)
_OBFUSCATED_EMAIL = re.compile(OBFUSCATED_EMAIL)
_OBFUSCATION_WORD = re.compile(r"(?i)\bdot\b|[\[({<]\s*at\s*[\])}>]")
_CUSTOMER_NUMBER = re.compile(CUSTOMER_NUMBER.pattern)
_DATE_OF_BIRTH = re.compile(DATE_OF_BIRTH.pattern)
_CARD = re.compile(CARD.pattern)
_NATIONAL_ID = re.compile(NATIONAL_ID.pattern)
_ACCOUNT = re.compile(BANK_ACCOUNT.pattern)
_NUMBER_RUN = re.compile(NUMBER_RUN)
#: Just before a digit run: a number's whole part and decimal mark, so the run is its
#: decimals (a duration saved as a fraction of a day, 0.00347222222222222, whose 17
#: decimals pass the Luhn check one time in ten; a trial's quarantine reason read
#: '0.[CARD]' where it should have quoted the value).
_DECIMALS = re.compile(r"\d[.,]$")
_MONEY_ONLY = re.compile(r"\d[\d,]*\.\d{2}")
#: Where a number a phone word introduces is also looked for when it is not one of the
#: source's country (a comment in a German source may give a Spanish mobile in its national
#: form): the countries whose languages :data:`PHONE_WORDS` covers and the neighbours that
#: share them. Such a number must be a *valid* number of one of them, as an uncued one must
#: be of the source's country: nearly any digit run is *possible* somewhere.
CUED_FALLBACK_REGIONS = ("GB", "IE", "FR", "BE", "LU", "NL", "DE", "AT", "CH", "ES", "PT", "IT")
#: Characters either side of a digit run that the matcher sees with it: a "+", "00 " or "("
#: that starts the number, and what tells a time stamp (14:03) or an extension from it.
_CONTEXT = 8
_PHONE_WORD = re.compile(PHONE_WORDS)
#: A North American number after its country code 1, written without "+" (1-646-231-8839,
#: 1 (646) 231 8839): area code and exchange start with 2 to 9.
_NORTH_AMERICAN = re.compile(r"1[ .\-]?\(?[2-9]\d{2}\)?[ .\-]?[2-9]\d{2}[ .\-]?\d{4}")
#: What may stand between two numbers that one phone word introduces.
_ALTERNATIVE = re.compile(r"(?i)\W*(?:or|and|/)?\W*")
_DATE = re.compile(r"(\d{1,4})[./\-](\d{1,2})[./\-](\d{2,4})")
#: A date (as :data:`_DATE`) followed by a time of day: ``02.12.2026 10:00``, ``2026-12-02
#: 10:00``, ``03-12-2026 10h30``, ``05-12-2026 14u30``, ``02.12.2026, 10 Uhr``. The digit run
#: a phone check sees stops at the colon (``02.12.2026 10``), so it is not a date alone and
#: read whole it can be a valid number; these spans are cut out of the runs instead. A date
#: needs the time after it to be cut from a run: a number grouped in pairs (``06-12-34 56
#: 78``) starts with something shaped like a date.
_DATE_TIME = re.compile(
    r"(?<!\d)(\d{1,4})[./\-](\d{1,2})[./\-](\d{2,4}),?(?:[ T]|\s+(?:um|à|a las|om|alle)\s+)"
    r"\d{1,2}(?:[:.hHu]\d{2}(?!\d)|\s?(?:Uhr|h)\b)"
)
#: Letters or digits joined to the number by a dash, slash, underscore or #: an identifier.
_GLUED = re.compile(r"[A-Za-z0-9][\-/_#]$")


def looks_like_number(column: str) -> pl.Expr:
    """True where ``column`` holds a run of six or more digits (:data:`NUMBER_RUN`) that is not
    an amount of money (:data:`MONEY`): the only rows an IBAN, a card, an account or a phone
    number can be in."""
    text = pl.col(column)
    return (
        text.str.contains(NUMBER_RUN) & text.str.replace_all(MONEY, " ").str.contains(NUMBER_RUN)
    ).fill_null(False)


def is_card_number(candidate: str) -> bool:
    """True for 13 to 19 digits (spaces and dashes ignored) that pass the Luhn check."""
    digits = re.sub(r"[ \-]", "", candidate)
    from stdnum import luhn

    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def is_national_id(candidate: str) -> bool:
    """True for a Spanish DNI or NIE or a French NIR (spaces, dots and dashes ignored) that
    python-stdnum's ``es.dni``, ``es.nie`` or ``fr.nir`` validator accepts: the identity
    numbers whose check tells them from order numbers without a word naming them."""
    from stdnum.es import dni, nie
    from stdnum.fr import nir

    compact = re.sub(r"[ .\-]", "", candidate).upper()
    if compact[:1] in "XYZ":
        return bool(nie.is_valid(compact))
    if compact[-1:].isalpha() and len(compact) == 9:
        return bool(dni.is_valid(compact))
    return bool(nir.is_valid(compact))


def national_id_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds a national identity number (start, end), in order: a number of
    an identity number's shape after a word naming one (:data:`_NATIONAL_ID_CUED`), and any
    candidate of :data:`NATIONAL_ID` that :func:`is_national_id` accepts. A named DNI's
    check letter after a space (``DNI 12.345.678 Z``) goes with its digits."""
    spans = [
        _with_spaced_letter(text, found.group("id"), *found.span("id"))
        for found in _NATIONAL_ID_CUED.finditer(text)
        if _NATIONAL_ID_SHAPE.fullmatch(re.sub(r"[ .\-]", "", found.group("id")))
    ]
    for found in _NATIONAL_ID_DIGITS.finditer(text):
        if not _NATIONAL_ID_SHAPE.fullmatch(re.sub(r"[ .\-]", "", found.group())):
            continue
        if any(start < found.end() and found.start() < end for start, end in spans):
            continue
        # The words just before it, in a short window: a pattern tried from every word of
        # the text tripled the time of the planted benchmark's redaction.
        words = _words_before(text[max(0, found.start() - 60) : found.start()])
        if words and names_national_id(" ".join(words)):
            spans.append(found.span())
    spans.sort()
    spans += [
        found.span()
        for found in _NATIONAL_ID.finditer(text)
        if is_national_id(found.group())
        and not any(start < found.end() and found.start() < end for start, end in spans)
    ]
    return sorted(spans)


def _with_spaced_letter(text: str, number: str, start: int, end: int) -> tuple[int, int]:
    """The span (``start``, ``end``) of ``number`` in ``text``, taken one capital further
    when ``number`` is a DNI's eight digits (dots allowed) and a space and a capital alone
    follow it: the check letter written apart, as :data:`NATIONAL_ID` takes it."""
    if re.fullmatch(r"\d{8}|\d{2}\.\d{3}\.\d{3}", number) and _SPACED_LETTER.match(text, end):
        return start, end + 2
    return start, end


def _words_before(window: str) -> list[str]:
    """The last three words of ``window`` before the links and punctuation that may stand
    between an identity number's name and the number (:data:`_ID_LINK_TOKENS`), dashes
    between them left out; fewer, or none, when something else comes first."""
    tokens = _TOKEN.findall(window.lower())
    while tokens and tokens[-1] in _ID_LINK_TOKENS:
        tokens.pop()
    words: list[str] = []
    while tokens and len(words) < 3:
        token = tokens.pop()
        if token == "-":
            continue
        if not token.isalpha():
            break
        words.insert(0, token)
    return words


def names_national_id(words: str) -> bool:
    """True when the last one, two or three of ``words`` (letters, separated by spaces or
    dashes), links such as "is" or "nummer" left off the end, joined and lower-cased, are
    within :data:`NATIONAL_ID_NAME_DISTANCE` of a name of :data:`NATIONAL_ID_NAMES`: a name
    mistyped ("burgerservicenumer", "burgerservicenumemr"). Words of under eight letters
    are never taken."""
    from rapidfuzz.distance import OSA

    parts = re.split(r"[ \-]+", words.lower())
    for count in (1, 2, 3):
        joined = "".join(parts[-count:])
        if len(parts) < count or len(joined) < 8:
            continue
        for name in NATIONAL_ID_NAMES:
            distance = OSA.normalized_distance(joined, name)
            if distance <= NATIONAL_ID_NAME_DISTANCE:
                return True
    return False


def _looks_like_date(candidate: str) -> bool:
    """True for day.month.year, month/day/year or year-month-day with plausible values.

    libphonenumber's matcher skips slash-separated dates and time stamps itself, but a date
    with dots or dashes (05.10.2026) can be a valid German or American number.
    """
    found = _DATE.fullmatch(candidate.strip())
    return found is not None and _is_plausible_date(*found.groups())


def _is_plausible_date(*parts: str) -> bool:
    """True for the three numbers of day.month.year, month/day/year or year-month-day when
    their values make a date of 1900 to 2100 (or a two-digit year)."""
    first, second, third = (int(part) for part in parts)
    if first > 31:  # year first
        first, third = third, first
    day_month = first <= 31 and 1 <= second <= 12
    month_day = 1 <= first <= 12 and second <= 31
    return (day_month or month_day) and (third < 100 or 1900 <= third <= 2100)


def _is_phone(match: PhoneNumberMatch, text: str, offset: int) -> bool:
    """A match (in the window of ``text`` at ``offset``) that is not a date and not the tail
    of an identifier (INV-2026-004417)."""
    glued = _GLUED.search(text, 0, offset + match.start)
    return not _looks_like_date(match.raw_string) and not glued


def _digit_runs(text: str) -> Iterator[tuple[int, int, int, int]]:
    """The digit runs of ``text`` (:data:`NUMBER_RUN`) with every date followed by a time
    (:data:`_DATE_TIME`) cut out, each as (start, end) and the window the phone matcher may
    read around it, (start, end): :data:`_CONTEXT` characters either side, but never into a
    date and time that was cut out."""
    cuts = [
        found.span() for found in _DATE_TIME.finditer(text) if _is_plausible_date(*found.groups())
    ]
    for run in _NUMBER_RUN.finditer(text):
        if not cuts:
            start, end = run.span()
            yield start, end, max(0, start - _CONTEXT), end + _CONTEXT
            continue
        # The pieces of the run between the cuts, each searched for runs again.
        pieces, low = [], run.start()
        for cut_start, cut_end in cuts:
            if cut_end > low and cut_start < run.end():
                pieces.append((low, cut_start))
                low = cut_end
        pieces.append((low, run.end()))
        for piece_start, piece_end in pieces:
            for part in _NUMBER_RUN.finditer(text, piece_start, max(piece_start, piece_end)):
                start, end = part.span()
                before = max([0, *(e for _, e in cuts if e <= start)])
                after = min([len(text), *(s for s, _ in cuts if s >= end)])
                yield start, end, max(before, start - _CONTEXT), min(after, end + _CONTEXT)


def _phone_spans(text: str, region: str) -> list[tuple[int, int]]:
    """Where ``text`` holds a phone number (see the module's notes on leniency).

    libphonenumber's matcher looks only at a short window around each digit run (a long
    comment scanned whole costs ten times as much): the run, the few characters before it
    where a ``+``, ``00`` or ``(`` may start the number, and a few after it. A run right
    after a phone word is matched at ``POSSIBLE`` leniency, any other at ``VALID``. A date
    followed by a time (``02.12.2026 10:00``) is cut out of the runs first: read with the
    hour, its digits are no date and can be a valid number.
    """
    import phonenumbers

    spans: list[tuple[int, int]] = []
    has_phone_word = _PHONE_WORD.search(text) is not None
    for run_start, run_end, offset, window_end in _digit_runs(text):
        run = text[run_start:run_end]
        if _MONEY_ONLY.fullmatch(run) or _looks_like_date(run):
            continue
        cued = has_phone_word and (
            PHONE_CUE.search(text, max(0, run_start - 40), run_start) is not None
            # "call 555 0137 or 555 0138": the word introduces both
            or bool(spans and _ALTERNATIVE.fullmatch(text, spans[-1][1], run_start))
        )
        leniency = phonenumbers.Leniency.POSSIBLE if cued else phonenumbers.Leniency.VALID
        window = text[offset:window_end]
        found = _matched_spans(text, offset, window, region, leniency, spans)
        if not found and _NORTH_AMERICAN.fullmatch(run):
            # 1-646-231-8839: a North American number with its country code but no "+",
            # which no other plan reads; a valid one of the US plan (Canada's shares it).
            found = _matched_spans(text, offset, window, "US", phonenumbers.Leniency.VALID, spans)
        if cued and not found:
            # Introduced as a phone number but none of the source's country: a valid
            # number of a neighbouring country, in its national form.
            for other in CUED_FALLBACK_REGIONS:
                if other != region:
                    found = _matched_spans(
                        text, offset, window, other, phonenumbers.Leniency.VALID, spans
                    )
                    if found:
                        break
        spans.extend(found)
    return spans


def _matched_spans(
    text: str,
    offset: int,
    window: str,
    region: str,
    leniency: int,
    spans: Sequence[tuple[int, int]],
) -> list[tuple[int, int]]:
    """The phone numbers libphonenumber finds in ``window`` (``text`` from ``offset``) read in
    ``region`` at ``leniency`` (a ``phonenumbers.Leniency``), as spans of ``text``: those
    that are not dates nor tails of identifiers (:func:`_is_phone`) and start after the last
    of ``spans``."""
    import phonenumbers

    found: list[tuple[int, int]] = []
    for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=leniency):
        start, end = offset + match.start, offset + match.end
        if (found or spans) and start < (found or spans)[-1][1]:
            continue  # windows can overlap: each number once
        if _NUMBER_RUN.search(match.raw_string) and _is_phone(match, text, offset):
            found.append((start, end))
    return found


def ipv6_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds an IPv6 address (start, end), in order: each candidate of
    :data:`_IPV6_CANDIDATE` that Python's ``ipaddress.IPv6Address`` accepts and that holds
    a hex digit (``::`` alone, as in ``std::``, is not taken for the unspecified address)."""
    import ipaddress

    spans = []
    for found in _IPV6_CANDIDATE.finditer(text):
        candidate = found.group()
        if not any(c in string.hexdigits for c in candidate):
            continue
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        spans.append(found.span())
    return spans


def _replace_spans(text: str, spans: Sequence[tuple[int, int]], placeholder: str) -> str:
    for start, end in reversed(spans):
        text = text[:start] + placeholder + text[end:]
    return text


def redact_numbers(text: str, region: str = DEFAULT_REGION) -> tuple[str, Counter[str]]:
    """IBANs, account numbers, national identity numbers, card numbers and phone numbers in
    one text, redacted.

    Returns the text and how many of each kind (by :class:`PiiKind` name) were replaced.
    ``region`` is the ISO 3166 alpha-2 country national phone numbers are read in.
    """
    from stdnum import iban

    found: Counter[str] = Counter()
    # IBANs before cards: the digits of an IBAN can pass the Luhn check.
    ibans = [m.span() for m in _IBAN.finditer(text) if iban.is_valid(m.group())]
    text = _replace_spans(text, ibans, BANK_ACCOUNT.placeholder)
    text, accounts = _ACCOUNT.subn(BANK_ACCOUNT.placeholder, text)
    found[BANK_ACCOUNT.name] += len(ibans) + accounts
    # Identity numbers before cards and phones: a NIR can pass the Luhn check, and a BSN or
    # a DNI's digits can be a valid phone number.
    ids = national_id_spans(text)
    text = _replace_spans(text, ids, NATIONAL_ID.placeholder)
    found[NATIONAL_ID.name] += len(ids)
    cards = [
        m.span()
        for m in _CARD.finditer(text)
        if is_card_number(m.group()) and not _DECIMALS.search(text, 0, m.start())
    ]
    text = _replace_spans(text, cards, CARD.placeholder)
    found[CARD.name] += len(cards)
    if _NUMBER_RUN.search(text):
        phones = _phone_spans(text, region)
        text = _replace_spans(text, phones, PHONE.placeholder)
        found[PHONE.name] += len(phones)
    return text, found


def _redact_numbers_in_column(
    frame: pl.DataFrame, column: str, region: str, row_regions: str | None = None
) -> tuple[pl.DataFrame, Counter[str]]:
    """Each distinct text with a digit run redacted once; counts weighted by its rows.

    With ``row_regions`` (a column of ``frame`` holding each row's region, null for
    ``region``), each distinct (text, region) pair is redacted once, in its region: the
    Python work stays per distinct text and region, and each region's redactions are put
    back by value in that region's rows only (the same text can hold a number in one
    country's plan and none in another's)."""
    if row_regions is None:
        return _redact_each_distinct(
            frame, column, looks_like_number(column), lambda text: redact_numbers(text, region)
        )
    own = pl.col(row_regions).fill_null(region)
    distinct = (
        frame.lazy()
        .filter(looks_like_number(column))
        .group_by(column, own.alias("__region"))
        .len("rows")
        .collect()
    )
    mappings: dict[str, dict[str, str]] = {}
    counts: Counter[str] = Counter()
    checked: dict[str, str] = {}
    for text, row_region, rows in distinct.iter_rows():
        if row_region not in checked:
            checked[row_region] = checked_region(row_region)
        redacted, found = redact_numbers(text, checked[row_region])
        if redacted != text:
            mappings.setdefault(row_region, {})[text] = redacted
            for name, n in found.items():
                counts[name] += n * rows
    if mappings:
        put_back = pl.col(column)
        for row_region, mapping in mappings.items():
            put_back = (
                pl.when(own == row_region).then(pl.col(column).replace(mapping)).otherwise(put_back)
            )
        frame = frame.with_columns(put_back.alias(column))
    return frame, counts


def redact_cued_values(text: str) -> tuple[str, Counter[str]]:
    """The obfuscated e-mail addresses (:data:`OBFUSCATED_EMAIL`), customer numbers and
    dates of birth (after a word naming them, which stays) of one text replaced by their
    placeholders, and how many of each kind (by :class:`PiiKind` name)."""
    found: Counter[str] = Counter()
    if _OBFUSCATION_WORD.search(text):  # the address pattern alone reads every word
        text, found[EMAIL.name] = _OBFUSCATED_EMAIL.subn(EMAIL.placeholder, text)
    for kind, pattern in ((CUSTOMER_NUMBER, _CUSTOMER_NUMBER), (DATE_OF_BIRTH, _DATE_OF_BIRTH)):
        text, found[kind.name] = pattern.subn(r"\g<1>" + kind.placeholder, text)
    return text, +found


def _redact_ipv6(text: str) -> tuple[str, Counter[str]]:
    """The IPv6 addresses of one text (:func:`ipv6_spans`) replaced by ``[IP]``, and how many."""
    spans = ipv6_spans(text)
    found = Counter({IP_ADDRESS.name: len(spans)}) if spans else Counter[str]()
    return _replace_spans(text, spans, IP_ADDRESS.placeholder), found


def _redact_each_distinct(
    frame: pl.DataFrame,
    column: str,
    candidates: pl.Expr,
    redact: Callable[[str], tuple[str, Counter[str]]],
) -> tuple[pl.DataFrame, Counter[str]]:
    """Each distinct text of ``column`` in the rows ``candidates`` selects redacted once by
    ``redact`` (a text -> the text redacted and its counts by kind); the counts weighted by
    the text's rows. The kinds that need per-match work in Python run so."""
    distinct = frame.lazy().filter(candidates).group_by(column).len("rows").collect()
    mapping: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for text, rows in distinct.iter_rows():
        redacted, found = redact(text)
        if redacted != text:
            mapping[text] = redacted
            for name, n in found.items():
                counts[name] += n * rows
    if mapping:
        frame = frame.with_columns(pl.col(column).replace(mapping))
    return frame, counts


def checked_region(region: str) -> str:
    """``region`` upper-cased, or ValueError when libphonenumber has no numbering plan for it."""
    import phonenumbers

    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"redact_pii: region {region!r} is not a country code libphonenumber knows; "
            "use the source's ISO 3166 alpha-2 country, e.g. 'GB', 'FR', 'US'"
        )
    return code


#: A locale written as a language and a region (``de-AT``, ``fr_BE``, ``zh-Hant-TW``): the
#: region is the last part, two letters (BCP 47 / POSIX locale names).
_LOCALE = r"^[A-Za-z]{2,3}(?:[-_][A-Za-z]{4})?[-_]([A-Za-z]{2})$"


def row_region(value: pl.Expr) -> pl.Expr:
    """Each row's country for phone numbers from a per-row country text (trimmed): an ISO
    3166-1 alpha-2 code in any case (``fr``, ``FR``) or a locale's region part (``de-AT``,
    ``fr_BE``), upper-cased; null where the text is empty, null, or names no country
    libphonenumber has a numbering plan for (``UK``, ``Germany``, ``de``: a language alone),
    so the row is read in the source's country (:func:`redact_pii`'s ``row_regions``).
    Vectorised: a pattern and a membership test, no Python per row."""
    import phonenumbers

    text = value.str.strip_chars()
    code = (
        pl.when(text.str.contains(r"^[A-Za-z]{2}$"))
        .then(text)
        .otherwise(text.str.extract(_LOCALE, 1))
        .str.to_uppercase()
    )
    return pl.when(code.is_in(sorted(phonenumbers.SUPPORTED_REGIONS))).then(code).otherwise(None)


#: Given names and surnames that are also ordinary English words, lower-cased: for a
#: recipient of such a name, the word is redacted only as a name is written, capitalised
#: ("Will", "Bill", "May"), and "I will call", "my bill", "may I" keep theirs. Chosen from
#: the words complaints use (the months, the modal verbs, money, time and manner words) and
#: the commonest names that spell them; a name missing here is redacted in any case.
COMMON_WORD_NAMES = frozenset(
    {
        # given names
        "will", "may", "grace", "bill", "mark", "rose", "faith", "hope", "frank", "joy",
        "dawn", "june", "april", "august", "amber", "jack", "sue", "pat", "rob", "don",
        "art", "chase", "hunter", "summer", "autumn", "page", "ray", "penny", "sunny",
        "chip", "cash", "ivy", "ruby", "holly", "iris", "lily", "olive", "pearl", "crystal",
        "destiny", "honor", "honour", "charity", "patience", "prudence", "mercy", "guy",
        "gene", "miles", "norm", "sandy", "rusty", "buck", "bob", "nick", "drew", "dean",
        "carol", "rich", "sky", "skye", "max", "victor", "earl", "duke", "grant", "lance",
        "wade", "dale", "glen", "heather", "misty", "robin", "stormy", "star", "sterling",
        # surnames
        "price", "day", "long", "best", "king", "young", "black", "white", "brown", "green",
        "gray", "grey", "little", "hall", "hill", "wood", "bell", "cook", "ward", "fox",
        "short", "bond", "field", "rice", "banks", "mills", "waters", "sharp", "hunt",
        "marsh", "lamb", "lane", "law", "love", "moon", "payne", "sweet", "wise",
        "house", "street", "church", "parks", "booth", "cross", "steel", "stone",
        "story", "strong", "swift", "well", "wells", "west", "north", "south", "east",
    }
)  # fmt: skip
#: A private-use character that stands for a placeholder while own values are replaced one
#: match at a time: a name or an id cannot match inside it (a recipient called "Name" would
#: find the "NAME" of "[NAME]").
_OWN_MARK = "\ue000"


def _whole_word(value: pl.Expr, flags: str) -> pl.Expr:
    """A per-row regex matching ``value`` literally as a whole word, in a group with
    ``flags`` (``i``: any case; ``-i``: as written): a word boundary on each side that is a
    letter or digit (an id ``#4471`` cannot have one before its ``#``). Null where
    ``value`` is null."""
    start = pl.when(value.str.contains(r"^\w")).then(pl.lit(r"\b")).otherwise(pl.lit(""))
    end = pl.when(value.str.contains(r"\w$")).then(pl.lit(r"\b")).otherwise(pl.lit(""))
    return pl.concat_str(pl.lit(f"(?{flags}:"), start, value.str.escape_regex(), end, pl.lit(")"))


def own_customer_id_pattern(customer_id: pl.Expr) -> pl.Expr:
    """Each row's regex for its own customer id (trimmed, at least 3 characters) as a
    whole word in any case, or null where the row has none: a comment quoting the exact id
    its row is keyed by quotes personal data, whatever word stands before it."""
    value = customer_id.str.strip_chars()
    return pl.when(value.str.len_chars() >= 3).then(_whole_word(value, "i")).otherwise(None)


def own_names_pattern(first_name: pl.Expr | None, last_name: pl.Expr | None) -> pl.Expr:
    """Each row's regex for its recipient's own names, or null where it has none: the full
    name (first, spaces, last) in any case; each name of two or more letters as a whole word
    in any case, or, for a name that is also an ordinary word (:data:`COMMON_WORD_NAMES`),
    capitalised only ("Will" is redacted, "will" is not). Alternatives are tried in that
    order at each position, so "Will Byrne" is one name."""
    names = [n.str.strip_chars() for n in (first_name, last_name) if n is not None]
    valid = [pl.when(n.str.count_matches(r"\p{L}") >= 2).then(n) for n in names]
    alternatives = []
    if len(valid) == 2:
        full = pl.concat_str(valid[0], pl.lit(" "), valid[1])
        alternatives.append(_whole_word(full, "i").str.replace_all(" ", r"\s+", literal=True))
    for name in valid:
        common = name.str.to_lowercase().is_in(sorted(COMMON_WORD_NAMES))
        alternatives.append(
            pl.when(common)
            .then(_whole_word(name.str.to_titlecase(), "-i"))
            .otherwise(_whole_word(name, "i"))
        )
    joined = pl.concat_str(alternatives, separator="|", ignore_nulls=True)
    return pl.when(joined != "").then(joined).otherwise(None)


def _replace_own_values(
    frame: pl.DataFrame, column: str, pattern: pl.Expr, candidates: pl.Expr
) -> tuple[pl.DataFrame, int]:
    """Every match of each row's own ``pattern`` (a per-row regex, null for none) in
    ``column`` replaced by :data:`_OWN_MARK`, in the rows ``candidates`` selects (a cheap
    literal test: a per-row regex is compiled for each row it runs on); the frame and how
    many were replaced. Vectorised: polars cannot replace by a per-row regex, so each pass
    finds each row's first match (its byte offset and the text it matched) and splices the
    mark in, in the rows with a match left; as many passes as the most matches in a row."""
    text = pl.col(column)
    rows = (
        frame.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
            text,
            pattern.alias("p"),
            candidates.fill_null(False).alias("hit"),
        )
        .filter(pl.col("hit") & pl.col("p").is_not_null())
        .with_columns(text.str.count_matches(pl.col("p")).fill_null(0).alias("n"))
        .filter(pl.col("n") > 0)
    )
    if rows.is_empty():
        return frame, 0
    total = int(rows.get_column("n").sum())
    at = text.str.find(pl.col("p"))
    length = text.str.extract_all(pl.col("p")).list.first().str.len_bytes()
    raw = text.cast(pl.Binary)
    splice = pl.concat_str(
        raw.bin.slice(0, at).cast(pl.String),
        pl.lit(_OWN_MARK),
        raw.bin.slice(at + length).cast(pl.String),
    ).alias(column)
    values = frame.get_column(column).clone()
    # Each pass takes only the rows with a match left: most have one, and every per-row
    # regex costs a compilation (0.1 to 0.2 ms in any case).
    passes = 0
    while not rows.is_empty():
        rows = rows.with_columns(splice)
        values.scatter(rows.get_column("row"), rows.get_column(column))
        passes += 1
        rows = rows.filter(pl.col("n") > passes)
    return frame.with_columns(values), total


def redact_own_values(
    frame: pl.DataFrame,
    column: str,
    customer_ids: str | None = None,
    recipient_names: Sequence[str] = (),
) -> tuple[pl.DataFrame, Counter[str]]:
    """The row's own values in ``column`` replaced: its customer id (the column
    ``customer_ids`` of ``frame``; :func:`own_customer_id_pattern`) by
    ``[CUSTOMER_NUMBER]``, its recipient's names (the columns ``recipient_names``, first
    name then last name; :func:`own_names_pattern`) by ``[NAME]``. Another row's id or
    name is not looked for: only the row's own are certain to be personal. Returns the
    frame and how many of each kind (by :class:`PiiKind` name). Vectorised (per-row regexes
    in polars, no Python per row); rows whose text does not hold the value, compared
    lower-cased, cost one literal search."""
    found: Counter[str] = Counter()
    text = pl.col(column).str.to_lowercase()
    if customer_ids is not None:
        own = pl.col(customer_ids).str.strip_chars().str.to_lowercase()
        frame, found[CUSTOMER_NUMBER.name] = _replace_own_values(
            frame,
            column,
            own_customer_id_pattern(pl.col(customer_ids)),
            text.str.contains(own, literal=True),
        )
        frame = frame.with_columns(
            pl.col(column).str.replace_all(_OWN_MARK, CUSTOMER_NUMBER.placeholder, literal=True)
        )
    if recipient_names:
        first = pl.col(recipient_names[0])
        last = pl.col(recipient_names[1]) if len(recipient_names) > 1 else None
        names = [n.str.strip_chars() for n in (first, last) if n is not None]
        # A name that is an ordinary word is looked for as its pattern takes it, capitalised:
        # "will" in lower case would pick most comments, each costing a per-row regex.
        holds = pl.any_horizontal(
            *(
                pl.when(n.str.to_lowercase().is_in(sorted(COMMON_WORD_NAMES)))
                .then(pl.col(column).str.contains(n.str.to_titlecase(), literal=True))
                .otherwise(text.str.contains(n.str.to_lowercase(), literal=True))
                for n in names
            )
        )
        frame, found[PERSON_NAME.name] = _replace_own_values(
            frame, column, own_names_pattern(first, last), holds
        )
        frame = frame.with_columns(
            pl.col(column).str.replace_all(_OWN_MARK, PERSON_NAME.placeholder, literal=True)
        )
    return frame, +found


def placeholder_count(column: str, kind: PiiKind) -> pl.Expr:
    """How many ``kind`` placeholders ``column`` holds in all rows."""
    return pl.col(column).str.count_matches(kind.placeholder, literal=True).fill_null(0).sum()


def redact_pii(
    frame: pl.DataFrame,
    columns: Sequence[str],
    region: str = DEFAULT_REGION,
    row_regions: str | None = None,
    customer_ids: str | None = None,
    recipient_names: Sequence[str] = (),
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Replace personal data in the text ``columns`` by typed placeholders.

    ``region`` is the source's country (ISO 3166 alpha-2, e.g. ``"GB"``, ``"FR"``): phone
    numbers written without a country code are read in its numbering plan. ``row_regions``
    names a column of ``frame`` holding each row's own country (as :func:`row_region`
    gives it: upper-case ISO 3166 alpha-2, null where the row has none): that row's
    national numbers are read in its plan, a null row's in ``region``'s (an operator's
    export covering several countries, docs/sources.md). Numbers written with ``+`` or an
    international prefix are found whatever the region. The column is left in the frame.
    ``customer_ids`` and ``recipient_names`` name columns of ``frame`` holding each row's
    own customer id and its recipient's first and last name (an export's own columns, e.g.
    Qualtrics' ``RecipientFirstName``): those values are redacted wherever the row's text
    quotes them (:func:`redact_own_values`), right after e-mail addresses.
    Returns the redacted frame (same shape, same other columns) and how many values of each
    kind were replaced, summed over the columns; text that already said ``[EMAIL]`` is not
    counted. Raises TypeError for a column that is not text and ValueError for an unknown
    region, the source's or a row's.
    """
    region = checked_region(region)
    counts = dict.fromkeys((kind.name for kind in PII_KINDS), 0)
    for column in columns:
        if frame.get_column(column).dtype == pl.Null:  # a column that is empty in every row
            frame = frame.with_columns(pl.col(column).cast(pl.String))
        if frame.get_column(column).dtype != pl.String:
            raise TypeError(f"redact_pii: column {column!r} is {frame[column].dtype}, not text")
        frame, counts[EMAIL.name] = _replace_pattern(frame, column, EMAIL, counts[EMAIL.name])
        # After e-mail addresses (a name is part of one) and before the numbers: an id of
        # digits alone can read as a phone number, and it is certain to be this customer's.
        if customer_ids is not None or recipient_names:
            frame, own = redact_own_values(frame, column, customer_ids, recipient_names)
            for name, n in own.items():
                counts[name] += n
        # Before the numbers: a date of birth or a customer number can read as a phone.
        hint = pl.col(column).str.contains(_CUED_HINT).fill_null(False)
        frame, cued = _redact_each_distinct(frame, column, hint, redact_cued_values)
        for name, n in cued.items():
            counts[name] += n
        frame, counts[IP_ADDRESS.name] = _replace_ip_addresses(
            frame, column, counts[IP_ADDRESS.name]
        )
        frame, numbers = _redact_numbers_in_column(frame, column, region, row_regions)
        for name, n in numbers.items():
            counts[name] += n
        frame, counts[ADDRESS.name] = _replace_pattern(
            frame, column, ADDRESS, counts[ADDRESS.name], "${1}[ADDRESS]"
        )
    return frame, counts


def redact_pii_by_value(
    frame: pl.DataFrame, columns: Sequence[str], region: str = DEFAULT_REGION
) -> tuple[pl.DataFrame, dict[str, int]]:
    """:func:`redact_pii` for short fields that repeat (a score as typed, a channel, a
    queue, a language): each column's distinct values are redacted once and put back by
    value, with the same result and the same counts (each placeholder counted in every row
    it lands in). 100k survey rows' five such columns: 0.07 s by row, a few ms by value.
    Raises as :func:`redact_pii`."""
    totals = dict.fromkeys((kind.name for kind in PII_KINDS), 0)
    for column in columns:
        if frame.get_column(column).dtype == pl.Null:
            frame = frame.with_columns(pl.col(column).cast(pl.String))
        values = frame.get_column(column).drop_nulls().unique()
        before = pl.DataFrame({column: values})
        after, _ = redact_pii(before, [column], region)
        changed = after.get_column(column) != values
        if not changed.any():
            continue
        old, new = values.filter(changed), after.get_column(column).filter(changed)
        counted = placeholder_counts(frame, column)
        frame = frame.with_columns(pl.col(column).replace(old, new))
        for name, n in placeholder_counts(frame, column).items():
            totals[name] += n - counted[name]
    return frame, totals


def _replace_pattern(
    frame: pl.DataFrame, column: str, kind: PiiKind, count: int, replacement: str | None = None
) -> tuple[pl.DataFrame, int]:
    """``kind``'s pattern replaced in every row (vectorised) by its placeholder, or by
    ``replacement`` (which may put back groups of the match, ``${1}``); ``count`` plus the
    placeholders added."""
    before = frame.select(placeholder_count(column, kind)).item()
    frame = frame.with_columns(
        pl.col(column).str.replace_all(kind.pattern, replacement or kind.placeholder)
    )
    return frame, count + frame.select(placeholder_count(column, kind)).item() - before


def _replace_ip_addresses(frame: pl.DataFrame, column: str, count: int) -> tuple[pl.DataFrame, int]:
    """IPv6 addresses (:func:`ipv6_spans`), then :data:`IP_ADDRESS`, replaced in every row by
    ``[IP]``, the characters around each put back; IPv4 twice, since one character between two
    addresses (``1.1.1.1,2.2.2.2``) is matched by the first. Returns the frame and ``count``
    plus the addresses replaced."""
    two_colons = pl.col(column).str.contains(_TWO_COLONS).fill_null(False)
    frame, ipv6 = _redact_each_distinct(frame, column, two_colons, _redact_ipv6)
    count += ipv6[IP_ADDRESS.name]
    if not frame.select(pl.col(column).str.contains(_DOTTED_QUAD).any()).item():
        return frame, count  # one scan for the commonest case: no dotted quad at all
    for _ in range(2):
        frame, count = _replace_pattern(frame, column, IP_ADDRESS, count, "${1}[IP]${3}")
    return frame, count


def placeholder_counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    """How many placeholders of each kind ``column`` holds over ``frame``'s rows: the
    redactions made earlier in text redacted before (a source's landing redacts its rows;
    their later stages see placeholders only). Text in which a person typed ``[EMAIL]``
    themselves counts too, which :func:`redact_pii` leaves out."""
    if column not in frame.columns or frame.height == 0:
        return dict.fromkeys((kind.name for kind in PII_KINDS), 0)
    totals = frame.select(
        *(placeholder_count(column, kind).alias(kind.name) for kind in PII_KINDS)
    ).row(0, named=True)
    return {name: int(count) for name, count in totals.items()}


def add_counts(*parts: dict[str, int]) -> dict[str, int]:
    """Sum redaction counts from several frames, kind by kind."""
    total = dict.fromkeys((kind.name for kind in PII_KINDS), 0)
    for part in parts:
        for name, count in part.items():
            total[name] = total.get(name, 0) + count
    return total
