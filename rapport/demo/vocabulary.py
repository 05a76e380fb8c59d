"""The words of the demo business: who sells what to whom, and what they say to each other.

The demo company is Brightwave Solutions, a B2B vendor of workplace software selling yearly
licences, implementation, support plans and training to small and mid-size firms across Europe
and North America, invoiced in EUR. Its staff sign in with
addresses at `brightwave.example` (a reserved domain: nothing is ever delivered there).
"""

COMPANY_NAME = "Brightwave Solutions"
STAFF_DOMAIN = "brightwave.example"

# Country -> (Faker locale, weight, sales territory, preferred language, web TLD).
COUNTRIES = {
    "DE": ("de_DE", 22, "north", "German", "de"),
    "GB": ("en_GB", 16, "north", "English", "co.uk"),
    "NL": ("nl_NL", 8, "north", "Dutch", "nl"),
    "SE": ("sv_SE", 5, "north", "Swedish", "se"),
    "US": ("en_US", 14, "north", "English", "com"),
    "FR": ("fr_FR", 12, "south", "French", "fr"),
    "ES": ("es_ES", 8, "south", "Spanish", "es"),
    "IT": ("it_IT", 8, "south", "Italian", "it"),
    "AT": ("de_AT", 4, "south", "German", "at"),
    "CH": ("de_CH", 3, "south", "German", "ch"),
}
LANGUAGES = ["English", "German", "French", "Spanish", "Italian", "Dutch", "Swedish"]

INDUSTRIES = [
    ("Software", 12),
    ("Manufacturing", 14),
    ("Retail", 10),
    ("Healthcare", 8),
    ("Financial services", 7),
    ("Logistics", 8),
    ("Education", 5),
    ("Hospitality", 5),
    ("Construction", 6),
    ("Energy", 4),
    ("Media", 4),
    ("Professional services", 9),
    ("Food & beverage", 5),
    ("Automotive", 4),
    ("Telecommunications", 3),
]

# Organization size -> (weight, annual budget range in EUR for the "Annual budget" field).
SIZES = {
    "1-10": (18, 3_000, 25_000),
    "11-50": (32, 15_000, 90_000),
    "51-200": (27, 60_000, 300_000),
    "201-1000": (16, 200_000, 1_200_000),
    "1001+": (7, 800_000, 6_000_000),
}

LEGAL_SUFFIXES = {
    "gmbh",
    "co",
    "kg",
    "ag",
    "ltd",
    "plc",
    "llc",
    "inc",
    "sa",
    "sas",
    "sarl",
    "sl",
    "srl",
    "spa",
    "bv",
    "nv",
    "ab",
    "and",
    "und",
    "e",
    "v",
    "mbh",
    "ohg",
    "group",
    "son",
    "sons",
    "corp",
    "llp",
    "oy",
}

JOB_TITLES = [
    ("Chief Executive Officer", 3),
    ("Managing Director", 4),
    ("Chief Financial Officer", 2),
    ("Chief Technology Officer", 2),
    ("Head of IT", 6),
    ("IT Manager", 8),
    ("Systems Administrator", 6),
    ("Head of Procurement", 4),
    ("Purchasing Manager", 6),
    ("Operations Manager", 7),
    ("Office Manager", 6),
    ("Marketing Director", 3),
    ("Marketing Manager", 5),
    ("Sales Director", 3),
    ("Project Manager", 6),
    ("Finance Manager", 4),
    ("HR Manager", 4),
    ("Facilities Manager", 3),
    ("Data Analyst", 3),
    ("Customer Success Lead", 2),
    ("Team Lead", 4),
    ("Consultant", 3),
]

TAGS = [
    ("Newsletter", 14),
    ("Webinar attendee", 8),
    ("Trade show 2024", 6),
    ("Trade show 2025", 6),
    ("Decision maker", 9),
    ("Budget holder", 6),
    ("Technical buyer", 7),
    ("Champion", 4),
    ("Upsell potential", 5),
    ("Renewal due", 4),
    ("Reference customer", 2),
    ("Churn risk", 3),
    ("Partner referral", 3),
    ("Beta programme", 2),
]
ORGANIZATION_TAGS = [
    ("Key account", 4),
    ("Public sector", 3),
    ("Reseller", 2),
    ("Strategic", 3),
    ("Multi-site", 4),
    ("Expansion target", 3),
]

NEWSLETTER_TOPICS = ["Product news", "Industry insights", "Events", "Customer stories", "Offers"]

# Where contacts come from, with weights (ContactSource values).
SOURCES = [
    ("web_form", 26),
    ("campaign", 12),
    ("trade_show", 9),
    ("referral", 9),
    ("import", 10),
    ("manual", 14),
    ("email", 7),
    ("chat", 5),
    ("social", 5),
    ("api", 3),
]
SOURCE_DETAILS = {
    "web_form": ["Contact form", "Pricing page", "Whitepaper: Hybrid work", "Free trial sign-up"],
    "campaign": ["Spring offer", "Winter webinar series", "Partner co-marketing", "LinkedIn ads"],
    "trade_show": ["CeBIT Hanover", "Web Summit Lisbon", "VivaTech Paris", "IT Expo London"],
    "referral": ["Existing customer", "Partner", "Colleague"],
    "import": ["Event attendee list", "Legacy CRM export"],
    "manual": [""],
    "email": ["info@ mailbox", "Sales inbox"],
    "chat": ["Website chat"],
    "social": ["LinkedIn", "X"],
    "api": ["Website integration"],
}

# Final lifecycle stage -> share of contacts: a funnel that narrows, plus the customers lost.
FINAL_STAGES = [
    ("subscriber", 17),
    ("lead", 22),
    ("marketing_qualified", 13),
    ("sales_qualified", 9),
    ("opportunity", 7),
    ("customer", 17),
    ("loyal", 6),
    ("advocate", 2.5),
    ("churned", 6.5),
]
FUNNEL = [
    "subscriber",
    "lead",
    "marketing_qualified",
    "sales_qualified",
    "opportunity",
    "customer",
    "loyal",
    "advocate",
]
# Days a contact typically spends before moving on from a stage.
STAGE_DWELL_DAYS = {
    "subscriber": 40,
    "lead": 25,
    "marketing_qualified": 15,
    "sales_qualified": 12,
    "opportunity": 35,
    "customer": 220,
    "loyal": 150,
}
# Why a contact moved into a stage (the reason on its lifecycle history).
STAGE_REASONS = {
    "lead": ["Requested a callback", "Downloaded a whitepaper", "Asked for pricing"],
    "marketing_qualified": ["Attended a webinar", "Score passed the MQL threshold", "Event lead"],
    "sales_qualified": ["Qualified on discovery call", "Budget and timeline confirmed"],
    "opportunity": ["Proposal requested", "Demo scheduled"],
    "customer": ["First order placed", "Contract signed"],
    "loyal": ["Renewed the contract", "Third order this year"],
    "advocate": ["Agreed to be a reference", "Referred a new customer"],
    "churned": ["Did not renew", "Moved to a competitor", "Company closed the site"],
}

# Interactions per contact by final stage: (min, max).
INTERACTION_COUNTS = {
    "subscriber": (0, 1),
    "lead": (0, 2),
    "marketing_qualified": (1, 3),
    "sales_qualified": (2, 5),
    "opportunity": (3, 7),
    "customer": (4, 11),
    "loyal": (7, 16),
    "advocate": (8, 18),
    "churned": (3, 9),
}

CALL_OUTCOMES = [
    ("connected", 56),
    ("left_voicemail", 19),
    ("no_answer", 17),
    ("busy", 5),
    ("wrong_number", 3),
]
MEETING_OUTCOMES = [("completed", 80), ("rescheduled", 10), ("no_show", 4), ("cancelled", 6)]

PRODUCTS = [
    "Brightwave Desk",
    "Brightwave Rooms",
    "Brightwave Cloud Backup",
    "Brightwave Secure Wi-Fi",
    "Brightwave Helpdesk",
]

# The price list: (SKU, name, category, list price in EUR, unit). Deals and orders are built
# only from these lines; licences and support plans are per year, so they come back as renewals.
LICENCES = "Licences"
IMPLEMENTATION = "Implementation"
SUPPORT = "Support plans"
TRAINING = "Training"
CATALOGUE = [
    ("BW-DESK-1Y", "Brightwave Desk licence (per seat, 1 year)", LICENCES, 180, "seat"),
    ("BW-HELP-1Y", "Brightwave Helpdesk licence (per agent, 1 year)", LICENCES, 420, "agent"),
    ("BW-ROOM-1Y", "Brightwave Rooms licence (per room, 1 year)", LICENCES, 360, "room"),
    ("BW-BKP-1Y", "Brightwave Cloud Backup (per TB, 1 year)", LICENCES, 960, "TB"),
    ("BW-WIFI-1Y", "Brightwave Secure Wi-Fi licence (per site, 1 year)", LICENCES, 1200, "site"),
    ("IMP-START", "Implementation package Starter", IMPLEMENTATION, 2500, "package"),
    ("IMP-PRO", "Implementation package Professional", IMPLEMENTATION, 7500, "package"),
    ("IMP-ENT", "Implementation package Enterprise", IMPLEMENTATION, 18000, "package"),
    ("SUP-BIZ-1Y", "Business support plan (1 year)", SUPPORT, 2400, "plan"),
    ("SUP-PREM-1Y", "Premium support plan (1 year)", SUPPORT, 6000, "plan"),
    ("TRN-REMOTE", "Remote training day", TRAINING, 950, "day"),
    ("TRN-ONSITE", "On-site training day", TRAINING, 1400, "day"),
]
# The licence product each product family sells (deal and lead "products of interest").
FAMILY_LICENCE = {
    "Brightwave Desk": "BW-DESK-1Y",
    "Brightwave Helpdesk": "BW-HELP-1Y",
    "Brightwave Rooms": "BW-ROOM-1Y",
    "Brightwave Cloud Backup": "BW-BKP-1Y",
    "Brightwave Secure Wi-Fi": "BW-WIFI-1Y",
}
# Organization size -> (licence units low, high, implementation SKU, sales cycle days low, high).
# Small firms buy in a few weeks; a large one takes months (legal, procurement, IT security).
DEAL_SHAPE = {
    "1-10": (3, 10, "IMP-START", 14, 40),
    "11-50": (10, 45, "IMP-START", 21, 60),
    "51-200": (30, 150, "IMP-PRO", 35, 90),
    "201-1000": (120, 600, "IMP-PRO", 50, 130),
    "1001+": (400, 2000, "IMP-ENT", 70, 180),
}
# No organization: a freelancer or consultant buying for themselves.
INDIVIDUAL_SHAPE = (1, 3, "", 7, 25)

# Company names: (legal forms with weights, sector words by industry, brand stems). Names are
# "<Surname> <Sector> <form>", "<Brand> <Sector> <form>" or "<Surname> & <Surname> <form>".
ORG_FORMS = {
    "DE": [("GmbH", 8), ("AG", 2), ("GmbH & Co. KG", 3), ("KG", 1)],
    "AT": [("GmbH", 8), ("AG", 2), ("KG", 1)],
    "CH": [("AG", 6), ("GmbH", 4)],
    "GB": [("Ltd", 9), ("plc", 1), ("LLP", 1)],
    "US": [("Inc.", 6), ("LLC", 4), ("Corp.", 2)],
    "NL": [("B.V.", 9), ("N.V.", 1)],
    "SE": [("AB", 1)],
    "FR": [("SAS", 6), ("SARL", 3), ("SA", 2)],
    "ES": [("S.L.", 7), ("S.A.", 3)],
    "IT": [("S.r.l.", 7), ("S.p.A.", 3)],
}
# The language sector words are taken from, by country.
ORG_LANGUAGE = {
    "DE": "de",
    "AT": "de",
    "CH": "de",
    "FR": "fr",
    "ES": "es",
    "IT": "it",
}
SECTOR_WORDS = {
    # industry: {language: words}; "en" is the default.
    "Software": {
        "en": ["Software", "Digital", "Systems"],
        "de": ["Software", "Digital"],
        "fr": ["Logiciels", "Numérique"],
        "es": ["Software", "Digital"],
        "it": ["Software", "Digitale"],
    },
    "Manufacturing": {
        "en": ["Engineering", "Manufacturing", "Industries"],
        "de": ["Maschinenbau", "Werkzeugbau", "Industrietechnik"],
        "fr": ["Industrie", "Mécanique"],
        "es": ["Industrial", "Ingeniería"],
        "it": ["Meccanica", "Industrie"],
    },
    "Retail": {
        "en": ["Retail", "Stores", "Trading"],
        "de": ["Handel", "Handelshaus"],
        "fr": ["Distribution", "Commerce"],
        "es": ["Comercial", "Distribución"],
        "it": ["Commerciale", "Distribuzione"],
    },
    "Healthcare": {
        "en": ["Health", "Medical", "Care"],
        "de": ["Medizintechnik", "Gesundheit"],
        "fr": ["Santé", "Médical"],
        "es": ["Salud", "Médica"],
        "it": ["Medicale", "Salute"],
    },
    "Financial services": {
        "en": ["Capital", "Finance", "Partners"],
        "de": ["Finanz", "Vermögensberatung"],
        "fr": ["Finance", "Capital"],
        "es": ["Finanzas", "Capital"],
        "it": ["Finanza", "Capitali"],
    },
    "Logistics": {
        "en": ["Logistics", "Freight", "Transport"],
        "de": ["Logistik", "Spedition"],
        "fr": ["Logistique", "Transports"],
        "es": ["Logística", "Transportes"],
        "it": ["Logistica", "Trasporti"],
    },
    "Education": {
        "en": ["Learning", "Academy", "Education"],
        "de": ["Akademie", "Bildung"],
        "fr": ["Formation", "Académie"],
        "es": ["Formación", "Academia"],
        "it": ["Formazione", "Accademia"],
    },
    "Hospitality": {
        "en": ["Hotels", "Hospitality"],
        "de": ["Hotels", "Gastronomie"],
        "fr": ["Hôtels", "Hôtellerie"],
        "es": ["Hoteles", "Hostelería"],
        "it": ["Hotel", "Ospitalità"],
    },
    "Construction": {
        "en": ["Construction", "Builders", "Building"],
        "de": ["Bau", "Bauunternehmung"],
        "fr": ["Construction", "Bâtiment"],
        "es": ["Construcciones", "Obras"],
        "it": ["Costruzioni", "Edilizia"],
    },
    "Energy": {
        "en": ["Energy", "Power", "Utilities"],
        "de": ["Energie", "Stadtwerke"],
        "fr": ["Énergie"],
        "es": ["Energía"],
        "it": ["Energia"],
    },
    "Media": {
        "en": ["Media", "Publishing", "Studios"],
        "de": ["Medien", "Verlag"],
        "fr": ["Médias", "Éditions"],
        "es": ["Medios", "Ediciones"],
        "it": ["Media", "Edizioni"],
    },
    "Professional services": {
        "en": ["Consulting", "Advisory", "Associates"],
        "de": ["Beratung", "Consulting"],
        "fr": ["Conseil", "Associés"],
        "es": ["Consultores", "Asesores"],
        "it": ["Consulenza", "Associati"],
    },
    "Food & beverage": {
        "en": ["Foods", "Beverages", "Brewing"],
        "de": ["Lebensmittel", "Brauerei", "Feinkost"],
        "fr": ["Alimentaire", "Boissons"],
        "es": ["Alimentación", "Bebidas"],
        "it": ["Alimentari", "Bevande"],
    },
    "Automotive": {
        "en": ["Motors", "Automotive"],
        "de": ["Automobil", "Fahrzeugtechnik"],
        "fr": ["Automobiles"],
        "es": ["Automoción"],
        "it": ["Automotive", "Motori"],
    },
    "Telecommunications": {
        "en": ["Telecom", "Networks"],
        "de": ["Telekom", "Netze"],
        "fr": ["Télécom", "Réseaux"],
        "es": ["Telecomunicaciones", "Redes"],
        "it": ["Telecomunicazioni", "Reti"],
    },
}
BRANDS = {
    "DE": ["Nordstern", "Rheintal", "Hanse", "Elbe", "Spree", "Isar", "Weser", "Taunus"],
    "AT": ["Donau", "Alpen", "Tirol", "Wienerwald", "Salzach"],
    "CH": ["Jura", "Leman", "Säntis", "Aare", "Rigi"],
    "GB": ["Northwind", "Thames", "Pennine", "Redbridge", "Kestrel", "Severn", "Cotswold"],
    "US": ["Summit", "Lakeshore", "Redwood", "Cascade", "Liberty", "Bluegrass", "Harbor"],
    "NL": ["Delta", "Noordzee", "Polder", "Zuiderzee", "Oranje"],
    "SE": ["Nordic", "Fjällen", "Vasa", "Mälar", "Göta"],
    "FR": ["Atlantique", "Provence", "Horizon", "Lumière", "Garonne", "Loire"],
    "ES": ["Mediterráneo", "Sierra", "Costa", "Meseta", "Cantábrico"],
    "IT": ["Adriatica", "Alpina", "Tirreno", "Aurora", "Dolomiti", "Arno"],
}

# Subjects and bodies. Placeholders: {first}, {company}, {product}, {seats}, {weekday}, {me}.
CALL_SUBJECTS = {
    "early": ["Intro call", "Follow-up on the whitepaper", "Callback request", "Qualifying call"],
    "deal": ["Discovery call", "Pricing questions", "Follow-up on proposal", "Negotiation call"],
    "customer": ["Check-in call", "Renewal conversation", "Support follow-up", "Upsell: {product}"],
}
CALL_NOTES = {
    "connected": [
        "Spoke with {first}. {company} is reviewing {product} for about {seats} seats; "
        "decision expected after their budget meeting.",
        "{first} confirmed the rollout is on track. Wants a short training for new staff.",
        "Good conversation: {first} asked for references in their industry. Sending two.",
        "{first} raised concerns about the migration effort; offered a call with our engineers.",
        "Discussed next quarter's needs. {first} will loop in procurement.",
    ],
    "left_voicemail": ["Left a voicemail asking {first} to call back about {product}."],
    "no_answer": ["No answer. Will try again on {weekday}."],
    "busy": ["Line busy; retry later."],
    "wrong_number": ["Number reached someone else; asked {first} for the right one by email."],
}
MEETING_SUBJECTS = {
    "early": ["Coffee at the trade show", "Intro meeting"],
    "deal": ["Product demo: {product}", "Solution workshop", "Proposal walkthrough"],
    "customer": ["Quarterly business review", "Onboarding session", "Roadmap preview"],
}
MEETING_NOTES = {
    "early": [
        "Met {first} to understand how {company} works today; no budget before next year.",
        "{first} liked the overview and asked for a follow-up with their IT lead.",
    ],
    "deal": [
        "Attendees: {first} and two colleagues from {company}. Agreed on a pilot with {seats} seats.",
        "Walked through {product}. Main questions were on single sign-on and data residency.",
        "{first} wants a written proposal by {weekday}; {me} will prepare it.",
        "Mapped their approval process: IT signs off first, then finance.",
    ],
    "customer": [
        "Reviewed usage: adoption is good in the head office, weaker in the branches.",
        "{first} is happy with support response times; asked about {product} for the new site.",
        "Agreed on a training session for {seats} new starters.",
        "Went through open tickets and the renewal date with {first}.",
    ],
}
EMAIL_OUT_SUBJECTS = {
    "early": ["Your copy of the whitepaper", "Following up on your enquiry", "Webinar recording"],
    "deal": ["Proposal for {company}", "Pricing for {seats} seats", "Next steps"],
    "customer": ["Your renewal", "New in {product}", "Invitation: customer advisory board"],
}
EMAIL_IN_SUBJECTS = {
    "early": ["Question about pricing", "Re: Following up on your enquiry"],
    "deal": ["Re: Proposal for {company}", "Security questionnaire", "Re: Next steps"],
    "customer": [
        "Invoice question",
        "Cannot sign in on two laptops",
        "Request: additional licences",
        "Re: Your renewal",
    ],
}
EMAIL_OUT_BODIES = [
    "Hi {first},\n\nthanks for your time today. As promised, here is a summary and the next "
    "steps.\n\nBest regards,\n{me}",
    "Hi {first},\n\nattached is the document we discussed. Let me know if anything is unclear."
    "\n\n{me}",
    "Hello {first},\n\njust checking in: is there anything we can help {company} with this "
    "month?\n\nKind regards,\n{me}",
]
EMAIL_IN_BODIES = [
    "Hello,\n\ncould you send us an updated quote for {seats} seats of {product}?\n\nThanks,\n{first}",
    "Dear {me},\n\nwe have a question about our last invoice; the number of licences looks off."
    "\n\nKind regards,\n{first}",
    "Hi {me},\n\nthanks for the information. I will discuss it with my team and get back to "
    "you next week.\n\n{first}",
]
NOTES = [
    "{first} prefers email over phone calls.",
    "Budget cycle at {company} starts in October.",
    "{company} is consolidating suppliers this year.",
    "Met {first} at the trade show; very interested in {product}.",
    "Competitor is offering a discount; {first} still prefers our support model.",
    "Account handed over from {me} after territory change.",
]
ORGANIZATION_NOTES = [
    "Account plan: expand from the head office to all sites within twelve months.",
    "Procurement requires three quotes for anything above 20,000 EUR.",
    "IT is moving to a new identity provider next quarter.",
    "Annual review with the management team scheduled.",
]

PARTNER_NOTES = ["Joint webinars", "Referral agreement", "Implementation partner"]
SUPPLIER_NOTES = ["Hardware supplier", "Logistics contract", "Office supplies"]
