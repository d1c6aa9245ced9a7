"""The value tables the Companies House sample rows are drawn from: company categories and
statuses, SIC codes, name words, streets, localities and towns with their postcode areas."""

# (category, suffixes to choose from, weight)
CATEGORIES = [
    ("Private Limited Company", (" LIMITED", " LIMITED", " LIMITED", " LTD"), 84),
    ("PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)",
     (" LIMITED",), 5),
    ("Public Limited Company", (" PLC",), 1),
    ("Limited Liability Partnership", (" LLP",), 4),
    ("Community Interest Company", (" LIMITED", " LTD"), 4),
    ("Charitable Incorporated Organisation", (" LIMITED",), 2),
]  # fmt: skip

STATUSES = [
    ("Active", 87),
    ("Active - Proposal to Strike off", 5),
    ("Liquidation", 3),
    ("In Administration", 1),
    ("Dissolved", 4),
]

ACCOUNT_CATEGORIES = [
    ("TOTAL EXEMPTION FULL", 30), ("MICRO ENTITY", 25), ("UNAUDITED ABRIDGED", 12),
    ("DORMANT", 10), ("TOTAL EXEMPTION SMALL", 5), ("SMALL", 5), ("FULL", 5),
    ("AUDIT EXEMPTION SUBSIDIARY", 2), ("GROUP", 2), ("MEDIUM", 1),
    ("ACCOUNTS TYPE NOT AVAILABLE", 3),
]  # fmt: skip

SIC_CODES = [
    "70229 - Management consultancy activities other than financial management",
    "68209 - Other letting and operating of own or leased real estate",
    "62020 - Information technology consultancy activities",
    "82990 - Other business support service activities n.e.c.",
    "96090 - Other service activities n.e.c.",
    "41100 - Development of building projects",
    "47910 - Retail sale via mail order houses or via Internet",
    "56101 - Licensed restaurants",
    "99999 - Dormant Company",
    "64209 - Activities of other holding companies n.e.c.",
    "43290 - Other construction installation",
    "68100 - Buying and selling of own real estate",
    "62012 - Business and domestic software development",
    "74909 - Other professional, scientific and technical activities n.e.c.",
    "86900 - Other human health activities",
    "49410 - Freight transport by road",
    "43390 - Other building completion and finishing",
    "73110 - Advertising agencies",
    "69201 - Accounting and auditing activities",
    "85590 - Other education n.e.c.",
    "56302 - Public houses and bars",
    "45111 - Sale of new cars and light motor vehicles",
    "88990 - Other social work activities without accommodation n.e.c.",
    "93199 - Other sports activities",
    "90030 - Artistic creation",
    "46900 - Non-specialised wholesale trade",
    "47110 - Retail sale in non-specialised stores with food, beverages or tobacco predominating",
    "55100 - Hotels and similar accommodation",
    "81210 - General cleaning of buildings",
    "74100 - specialised design activities",
    "94990 - Activities of other membership organisations n.e.c.",
    "43210 - Electrical installation",
    "71129 - Other engineering activities",
    "66190 - Other activities auxiliary to financial services, except insurance and "
    "pension funding",
    "59112 - Video production activities",
]

NAME_WORDS = [
    "ACME", "ALPHA", "APEX", "ASH", "ATLAS", "AVON", "BEACON", "BIRCH", "BLUE",
    "BRIGHT", "BRISTOL", "CASTLE", "CEDAR", "CLEAR", "COASTAL", "CORNER", "CROWN",
    "DELTA", "EAGLE", "ELM", "EMERALD", "FALCON", "FIRST", "FOX", "GOLDEN", "GRANGE",
    "GREEN", "HARBOUR", "HAWK", "HERITAGE", "HIGHLAND", "HILLSIDE", "IRON", "IVY",
    "KESTREL", "KING", "LAKESIDE", "LION", "MAPLE", "MERIDIAN", "MILL", "NORTHERN",
    "NOVA", "OAK", "OCEAN", "ORCHARD", "PARK", "PEAK", "PHOENIX", "PINE", "PRIME",
    "QUANTUM", "RAVEN", "RED", "RIVER", "ROSE", "ROYAL", "SILVER", "SOLAR", "SOUTHERN",
    "SPIRE", "STAR", "STONE", "SUMMIT", "SWIFT", "THAMES", "TITAN", "TOWER", "TRINITY",
    "UNITY", "VALLEY", "VERTEX", "VICTORIA", "VISTA", "WESTERN", "WILLOW", "WINDSOR",
    "ZENITH", "SMITH", "JONES", "TAYLOR", "BROWN", "WILLIAMS", "WILSON", "EVANS",
    "PATEL", "KHAN", "AHMED", "SINGH", "MURPHY", "O'CONNOR", "CAMPBELL", "STEWART",
    "HUGHES", "WALKER", "WRIGHT", "ROBINSON", "THOMPSON", "CLARKE", "HALL", "NGUYEN",
]  # fmt: skip

NAME_TAILS = [
    "PROPERTIES", "CONSULTING", "SERVICES", "HOLDINGS", "SOLUTIONS", "TRADING",
    "DEVELOPMENTS", "LOGISTICS", "ESTATES", "DESIGN", "MEDIA", "CARE", "BUILDING",
    "ENGINEERING", "TECHNOLOGIES", "VENTURES", "INVESTMENTS", "GROUP", "(UK)", "UK",
    "INTERNATIONAL", "MANAGEMENT", "CONSTRUCTION", "RETAIL", "CATERING", "CLEANING",
    "LEISURE", "CAPITAL", "ENERGY", "FOODS", "SYSTEMS", "STUDIO", "ASSOCIATES",
    "PARTNERS", "ELECTRICAL", "PLUMBING AND HEATING", "RECRUITMENT", "HEALTHCARE",
    "TRANSPORT", "INTERIORS", "MARKETING", "DIGITAL", "ACCOUNTANCY", "HOMES",
]  # fmt: skip

NAME_ODD = [
    "!OBAC UK", "1ST CHOICE", "24/7", "A1", "A & B", "3D", "4 SEASONS", "123",
    "NO. 1", "M&S", "@HOME", "JUST", "THE", "-ZERO-",
]  # fmt: skip

NAME_NON_ASCII = [
    "CAFÉ", "ZÜRICH", "MÜLLER", "SØRENSEN", "CRÈME", "BJÖRK", "NAÏVE", "FRANÇOIS",
    "SEÑOR", "GÖTEBORG", "ÉCLAIR", "RÉSUMÉ", "ÅLAND", "DÜSSELDORF",
]  # fmt: skip

STREETS = [
    "HIGH", "STATION", "MAIN", "PARK", "CHURCH", "LONDON", "VICTORIA", "GREEN",
    "MANOR", "KINGS", "QUEENS", "MILL", "BRIDGE", "NEW", "GEORGE", "ALBERT", "YORK",
    "WEST", "NORTH", "SOUTH", "CASTLE", "MARKET", "BRAMLEY", "OXFORD", "WINDSOR",
    "GROSVENOR", "CHAPEL", "SCHOOL", "SPRINGFIELD", "BROADWAY", "ELM", "OAKWOOD",
]  # fmt: skip

STREET_TYPES = [
    "STREET", "ROAD", "LANE", "AVENUE", "CLOSE", "DRIVE", "WAY", "PLACE", "GARDENS",
    "CRESCENT", "SQUARE", "TERRACE", "GROVE", "HILL",
]  # fmt: skip

BUILDINGS = [
    "BERRY COURT FARM", "REGENT HOUSE", "CENTURY BUSINESS CENTRE", "KEMP HOUSE",
    "INTERNATIONAL HOUSE", "THE OLD BARN", "SUFFOLK HOUSE", "CHANCERY HOUSE",
    "LEVEL 1 DEVONSHIRE HOUSE", "ENTERPRISE PARK", "THE WORKSHOP", "ST. JAMES HOUSE",
    "RIVERSIDE INDUSTRIAL ESTATE", "TECHNOLOGY PARK", "THE COACH HOUSE",
]  # fmt: skip

LOCALITIES = [
    "LITTLE LONDON", "CITY ROAD", "SHOREDITCH", "EDGBASTON", "HEADINGLEY",
    "CLIFTON", "KINGSWOOD", "HALE", "CHORLTON", "ST. JOHNS", "NEWTOWN", "OLD TOWN",
    "WESTBURY", "EASTGATE", "HOLBORN", "CANARY WHARF", "MAYFAIR", "BATTERSEA",
]  # fmt: skip

# (post town, county, postcode area(s) or districts, nation, weight)
TOWNS = [
    ("LONDON", "", ("EC1V", "EC2A", "WC2H", "N1", "SW1A", "SE1", "E14", "W1F", "NW1",
                    "WC1N", "EC4M", "SW19", "E1", "N17"), "ENGLAND", 26),
    ("MANCHESTER", "GREATER MANCHESTER", ("M",), "ENGLAND", 6),
    ("BIRMINGHAM", "WEST MIDLANDS", ("B",), "ENGLAND", 6),
    ("LEEDS", "WEST YORKSHIRE", ("LS",), "ENGLAND", 4),
    ("BRISTOL", "", ("BS",), "ENGLAND", 4),
    ("TADLEY", "HAMPSHIRE", ("RG",), "ENGLAND", 1),
    ("READING", "BERKSHIRE", ("RG",), "ENGLAND", 3),
    ("CARDIFF", "SOUTH GLAMORGAN", ("CF",), "WALES", 3),
    ("SWANSEA", "WEST GLAMORGAN", ("SA",), "WALES", 1),
    ("EDINBURGH", "MIDLOTHIAN", ("EH",), "SCOTLAND", 3),
    ("GLASGOW", "", ("G",), "SCOTLAND", 3),
    ("ABERDEEN", "ABERDEENSHIRE", ("AB",), "SCOTLAND", 1),
    ("BELFAST", "COUNTY ANTRIM", ("BT",), "NORTHERN IRELAND", 2),
    ("NOTTINGHAM", "NOTTINGHAMSHIRE", ("NG",), "ENGLAND", 3),
    ("SHEFFIELD", "SOUTH YORKSHIRE", ("S",), "ENGLAND", 3),
    ("LIVERPOOL", "MERSEYSIDE", ("L",), "ENGLAND", 3),
    ("NEWCASTLE UPON TYNE", "TYNE AND WEAR", ("NE",), "ENGLAND", 2),
    ("BRIGHTON", "EAST SUSSEX", ("BN",), "ENGLAND", 2),
    ("CAMBRIDGE", "CAMBRIDGESHIRE", ("CB",), "ENGLAND", 2),
    ("OXFORD", "OXFORDSHIRE", ("OX",), "ENGLAND", 2),
    ("NORWICH", "NORFOLK", ("NR",), "ENGLAND", 1),
    ("EXETER", "DEVON", ("EX",), "ENGLAND", 1),
    ("YORK", "NORTH YORKSHIRE", ("YO",), "ENGLAND", 1),
    ("LEICESTER", "LEICESTERSHIRE", ("LE",), "ENGLAND", 2),
    ("SOUTHAMPTON", "HAMPSHIRE", ("SO",), "ENGLAND", 2),
    ("MILTON KEYNES", "BUCKINGHAMSHIRE", ("MK",), "ENGLAND", 2),
    ("CHELMSFORD", "ESSEX", ("CM",), "ENGLAND", 1),
    ("GUILDFORD", "SURREY", ("GU",), "ENGLAND", 1),
    ("ST. ALBANS", "HERTFORDSHIRE", ("AL",), "ENGLAND", 1),
    ("HARROW", "MIDDLESEX", ("HA",), "ENGLAND", 1),
    ("ILFORD", "ESSEX", ("IG",), "ENGLAND", 1),
]  # fmt: skip
