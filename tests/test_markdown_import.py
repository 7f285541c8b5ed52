from pathlib import Path

import pytest

from dac.importers.markdown import ImportedQuery, MarkdownImportError, parse_markdown_hunting

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"


def seed(prefix: str) -> ImportedQuery:
    if not SEEDS.is_dir():
        pytest.skip(f"seed documents not available at {SEEDS}")
    path = next(SEEDS.glob(f"{prefix}_*.txt"))
    return parse_markdown_hunting(path.read_text(encoding="utf-8"), str(path))


def first_last(query: str | None) -> tuple[str, str]:
    assert query is not None and query.endswith("\n") and not query.endswith("\n\n")
    lines = query.splitlines()
    return lines[0], lines[-1]


# --- the five real documents -------------------------------------------------------------------------


def test_seed_000_plain_markdown() -> None:
    q = seed("000")
    assert q.title == "DeviceNetworkEvents From WinSCP with Enriched IP Information"
    assert q.authors == ["SecurityAura"]  # the GitHub/Twitter/... lines are not authors nor references
    assert q.techniques == []
    assert q.created is None
    # The externaldata(...) URL is a string literal of the query, not a reference.
    assert q.references == ["https://firewalliplists.gypthecat.com/kusto-tables/kusto-asn-table/"]
    assert q.description.startswith("This query returns events from network connections (DeviceNetworkEvents)")
    assert q.description.endswith("can help uncover non-legitimate use of WinSCP.")
    assert "\n\nhttps://firewalliplists" in q.description  # paragraphs kept
    assert first_last(q.defender_query) == (
        "let CIDRASN = (",
        "| evaluate ipv4_lookup(CIDRASN, RemoteIP, CIDR, return_unmatched=true)",
    )
    assert q.sentinel_query == q.defender_query


def test_seed_001_rendered_github_page() -> None:
    q = seed("001")
    assert q.title == "Rare or low-prevalent outgoing, successful IPv4 connections from non-browser processes"
    assert q.authors == ["Alex Teixeira"]
    assert q.techniques == []  # the table says "Multiple"
    assert q.created is None
    assert q.references == [
        "https://ateixei.medium.com/f5bfdc0d55d6?source=friends_link&sk=7f5d56cf3a85c126992ce866dd864b86"
    ]
    assert q.description.startswith("Hypothesis: Attackers will eventually communicate")
    assert "\n\nRisk: The results will contain a list of unique process names" in q.description
    assert first_last(q.defender_query) == (
        "// Author: Alex Teixeira (alex@opstune.com)",
        "| sort by DeviceCount asc",
    )
    assert first_last(q.sentinel_query) == (
        "// Author: Alex Teixeira (alex@opstune.com)",
        "| sort by DeviceCount asc",
    )
    assert "| where Timestamp > ago(30d)\n" in q.defender_query
    assert "| where TimeGenerated > ago(30d)\n" in q.sentinel_query
    assert "Sentinel" not in q.defender_query


def test_seed_002_gallery_page_with_markdown() -> None:
    q = seed("002")
    assert q.title == "(Public) Inbound connections to a compromised device"
    assert q.authors == ["Bert-Jan Pals"]
    assert q.techniques == []
    assert q.created == "2023-05-10"
    assert q.references == [
        "https://www.microsoft.com/en-us/security/blog/2020/12/28/"
        "using-microsoft-365-defender-to-coordinate-protection-against-solorigate/"
    ]
    assert q.description.startswith("This query can be used to get a quick overview")
    assert q.description.endswith("public (RFC1918) addresses.")
    first = "// Add the device you are investigating in the CompromisedDevice variable"
    assert first_last(q.defender_query) == (
        first,
        "| project Timestamp, DeviceName, RemoteIP, RemotePort, RemoteIPIsPrivate, FourToSixPrivate, "
        "LocalIP, LocalPort",
    )
    assert first_last(q.sentinel_query) == (
        first,
        "| project TimeGenerated, DeviceName, RemoteIP, RemotePort, RemoteIPIsPrivate, FourToSixPrivate, "
        "LocalIP, LocalPort",
    )
    assert "Explanation" not in q.sentinel_query


def test_seed_003_gallery_page_with_markdown_and_risk() -> None:
    q = seed("003")
    assert q.title == "Threat Hunting for inbound connections from malicious IPs on internet facing devices"
    assert q.authors == ["Bert-Jan Pals"]
    assert q.techniques == []
    assert q.created == "2023-04-21"
    # Relative links of the description and the externaldata URL are not references; the comment's URL is.
    assert q.references == [
        "https://techcommunity.microsoft.com/t5/microsoft-defender-for-endpoint/"
        "discovering-internet-facing-devices-using-microsoft-defender-for/ba-p/3778975",
        "https://github.com/stamparm/ipsum",
        "https://github.com/Bert-JanP/Hunting-Queries-Detection-Rules/tree/main/Threat%20Hunting",
    ]
    assert "- [Level 5](/TI%20Feed%20-%20MISP%20IPSum%20level%205.md)\n" in q.description
    assert q.description.endswith(
        "\n\nRisk: An adversary which uses a already flagged IP go scan your network for point of initial "
        "access, or an adversary has already gotten access to your network and uses this IP to connect to "
        "your environment."
    )
    assert first_last(q.defender_query)[0].startswith("// Collect Threat Intel feed information from Ipsum")
    assert first_last(q.defender_query)[1] == (
        "| project-reorder Timestamp, DeviceName, ThreatIntelligenceIP, LocalPort, InitiatingProcessFileName"
    )
    assert first_last(q.sentinel_query)[1] == (
        "| project-reorder TimeGenerated, DeviceName, ThreatIntelligenceIP, LocalPort, InitiatingProcessFileName"
    )


def test_seed_004_gallery_page_with_bare_query() -> None:
    q = seed("004")
    assert q.title == "Detecting Port Scanning On Internet Facing Devices"
    assert q.authors == ["Steven Lim"]
    assert q.techniques == ["T1049"]
    assert q.created == "2024-10-16"
    assert q.references == []
    assert q.description.startswith("Are you aware of when your endpoints or servers are exposed to the internet?")
    assert q.description.endswith("where X is the DeviceID.")
    assert "\nWhen this custom detection is triggered" in q.description
    assert first_last(q.defender_query) == (
        "// Detecting Port Scanning on Internet-Facing Devices",
        "// T1049: System Network Connections Discovery",
    )
    assert "| where Connections >= 3\n\n// MITRE ATT&CK\n" in q.defender_query
    assert q.sentinel_query is None


# --- synthetic documents -----------------------------------------------------------------------------

MARKDOWN = """\
# *Office spawning encoded shells* #

## Query Information

#### MITRE ATT&CK Technique(s)
| Technique ID | Title | Link |
| --- | --- | --- |
| T1059.001 | Command and Scripting Interpreter: PowerShell | https://attack.mitre.org/techniques/T1059/001/ |
| t1204 | User Execution | https://attack.mitre.org/techniques/T1204/ |
| T1059.001 | listed twice | |

#### Description
Office  processes starting a shell.
Details: https://blog.example.org/office-shells.

A second paragraph.

#### Author <Optional>
- **Name:** Ada Example
- **Twitter:** https://twitter.com/ada_example

#### References
- [Write-up](https://research.example.net/write-up?id=7)
- [Sibling query](../Other%20Query.md)

## Microsoft Defender XDR
~~~kusto

// Author: Bob Sample (bob@example.com), Ada Example
DeviceProcessEvents // T1027: see https://attack.example.com/t1027
| where InitiatingProcessFileName in~ ("winword.exe", "excel.exe")
| where ProcessCommandLine has "-enc" and FolderPath != "https://not.a.reference/"

~~~
### Microsoft Sentinel
````KQL
SecurityEvent
| where EventID == 4688
````
"""


def test_markdown_sections_mitre_table_and_sentinel_subheading() -> None:
    q = parse_markdown_hunting(MARKDOWN, "office.md")
    assert q.source == "office.md"
    assert q.title == "Office spawning encoded shells"
    assert q.techniques == ["T1059.001", "T1204", "T1027"]  # no T1059 from the table's link
    assert q.authors == ["Ada Example", "Bob Sample"]
    assert q.references == [
        "https://blog.example.org/office-shells",
        "https://research.example.net/write-up?id=7",
        "https://attack.example.com/t1027",
    ]
    assert q.description == (
        "Office processes starting a shell.\nDetails: https://blog.example.org/office-shells.\n\nA second paragraph."
    )
    assert q.created is None
    assert q.defender_query is not None and q.defender_query.startswith("// Author: Bob Sample")
    assert q.defender_query.endswith('FolderPath != "https://not.a.reference/"\n')
    # "### Microsoft Sentinel" under "## Microsoft Defender XDR" still labels its block Sentinel.
    assert q.sentinel_query == "SecurityEvent\n| where EventID == 4688\n"


def test_crlf_gives_the_same_result() -> None:
    lf = parse_markdown_hunting(MARKDOWN)
    crlf = parse_markdown_hunting(MARKDOWN.replace("\n", "\r\n"))
    assert crlf == lf
    assert "\r" not in (crlf.defender_query or "") + crlf.description


def test_headings_of_other_levels_and_spellings() -> None:
    doc = (
        "## Not the title\n\n# Lateral movement via WMI\n\n### Sentinel query\n```\nSecurityEvent\n```\n"
        "### M365 Defender\n```kql\nDeviceEvents   \n```\n"
    )
    q = parse_markdown_hunting(doc)
    assert q.title == "Lateral movement via WMI"
    assert q.defender_query == "DeviceEvents\n"
    assert q.sentinel_query == "SecurityEvent\n"


def test_single_unlabelled_block_is_the_defender_query() -> None:
    doc = "# Rare parents\n\nCreated: 2022-03-04\n\n```\nDeviceProcessEvents\n| take 10\n```\n\n```json\n{}\n```\n"
    q = parse_markdown_hunting(doc)
    assert q.defender_query == "DeviceProcessEvents\n| take 10\n"
    assert q.sentinel_query is None
    assert q.created == "2022-03-04"


def test_unclosed_fence_reports_its_line() -> None:
    doc = "# Title\n\n## Sentinel\n\n  ```kql\nSecurityEvent\n| take 1\n"
    with pytest.raises(MarkdownImportError) as info:
        parse_markdown_hunting(doc)
    assert (info.value.line, info.value.column) == (5, 3)
    assert "never closed" in str(info.value)


def test_tilde_fence_is_not_closed_by_backticks() -> None:
    with pytest.raises(MarkdownImportError) as info:
        parse_markdown_hunting("# T\n~~~\nDeviceEvents\n```\n")
    assert info.value.line == 2


def test_document_without_query_is_an_error() -> None:
    with pytest.raises(MarkdownImportError, match="no KQL query") as info:
        parse_markdown_hunting("# A title\n\n#### Description\nWords only.\n", "empty.md")
    assert info.value.line == 1


def test_gallery_page_without_query_points_at_the_query_marker() -> None:
    doc = "Query Details\n\nSome page\n\nQuery\n\n\nExplanation\n\nNothing.\n"
    with pytest.raises(MarkdownImportError) as info:
        parse_markdown_hunting(doc)
    assert info.value.line == 5


def test_plain_text_layout() -> None:
    doc = (
        "Skip to content\n\nqueries.md\n\nSuspicious service installs\n\nMITRE ATT&CK Technique(s)\n\n"
        "Technique ID Title Link\n"
        "T1543.003 Windows Service https://attack.mitre.org/techniques/T1543/003/\n\n"
        "Description\n\nNew services from temp folders.\n\n"
        "References\n\nhttps://docs.example.com/services\n\n"
        'Microsoft Defender XDR\n\nDeviceEvents\n| where ActionType == "ServiceInstalled"\n\n'
        "Microsoft Sentinel\n\nEvent\n| where EventID == 7045\n"
    )
    q = parse_markdown_hunting(doc)
    assert q.title == "Suspicious service installs"
    assert q.techniques == ["T1543.003"]
    assert q.description == "New services from temp folders."
    assert q.references == ["https://docs.example.com/services"]
    assert q.defender_query == 'DeviceEvents\n| where ActionType == "ServiceInstalled"\n'
    assert q.sentinel_query == "Event\n| where EventID == 7045\n"


def test_title_without_h1() -> None:
    body = "## Query Information\n\n### Beacon-like DNS\n\n```\nDnsEvents\n```\n"
    assert parse_markdown_hunting(body).title == "Beacon-like DNS"
    page = "Query Details\n\nGallery title\n\nQuery\n\n" + body + "\nExplanation\n\nText.\n"
    assert parse_markdown_hunting(page).title == "Gallery title"
