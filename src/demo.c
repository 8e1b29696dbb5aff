/* SPDX-License-Identifier: MIT */
/*
 * Demo incidents (demo.h). Each incident is drawn from its own PRNG stream seeded from
 * (seed, incident id), so incident k never depends on incidents 1..k-1: any page of the set can be
 * generated alone, in any order, and is byte-identical across runs and machines. Users and
 * devices come from fixed per-seed pools, so a host or an account shows up with the same ids in
 * every incident that involves it, as in a real tenant.
 *
 * Generation has two passes. plan_incident() draws every choice and every time as plain numbers;
 * build_*() turn the plan into jansson objects in the service's key order. The split lets an
 * incident whose activity would run past DEMO_EPOCH_TICKS be shifted back as a whole, keeping
 * every ordering between its timestamps.
 *
 * The catalogue (titles, categories, detection sources, descriptions, entity shapes, id formats)
 * follows the reference §3 and the captured responses it cites.
 */
#include "common.h"
#include "demo.h"
#include "model.h"
#include "ts.h"

#define SEC_TICKS  TS_TICKS_PER_SEC
#define MS_TICKS   (TS_TICKS_PER_SEC / 1000)
#define MIN_TICKS  (60 * SEC_TICKS)
#define HOUR_TICKS (60 * MIN_TICKS)
#define DAY_TICKS  (24 * HOUR_TICKS)
/* .NET ticks (since 0001-01-01) of the Unix epoch: MDE's "da<ticks>_<n>" alert ids use them. */
#define NET_TICKS_AT_UNIX_EPOCH 621355968000000000LL

#define MAX_ALERTS   5
#define MAX_ENTITIES 8
#define MAX_DEVICES  3
#define MAX_USERS    2
#define MAX_COMMENTS 3
#define MAX_TAGS     3
#define N_USERS      300 /* per-seed pool sizes */
#define N_DEVICES    400
#define N_ANALYSTS   8

/* ---- PRNG: splitmix64 ------------------------------------------------------------------- */

struct rng {
    uint64_t state;
};

/* splitmix64's finaliser: a bijection on 64-bit values with full avalanche. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rng_next(struct rng *r)
{
    r->state += 0x9e3779b97f4a7c15ULL;
    return mix64(r->state);
}

/* Uniform in [0, n), n >= 1 (multiply-shift on the top 32 bits). */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* Uniform in [lo, hi), hi > lo; the modulo bias is negligible for spans far below 2^64. */
static int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo));
}

static bool rng_permille(struct rng *r, unsigned permille)
{
    return rng_below(r, 1000) < permille;
}

#define PICK(r, arr) ((arr)[rng_below((r), (uint32_t)ARRAY_SIZE(arr))])

/* Independent streams, so that e.g. adding a draw to incidents never changes the user pool. */
enum stream {
    STREAM_INCIDENT = 1,
    STREAM_STATUS,
    STREAM_USER,
    STREAM_DEVICE,
    STREAM_ALERT_ID,
    STREAM_TENANT,
};

static struct rng rng_for(uint64_t seed, enum stream s, uint64_t key)
{
    struct rng r = {mix64(mix64(seed ^ ((uint64_t)s * 0x632be59bd9b4e019ULL)) ^ key)};
    return r;
}

/* FNV-1a: stable ids for things named by a string (detectors, file hashes). */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* ---- small formatting helpers ----------------------------------------------------------- */

static void hex_digits(uint64_t v, int n, bool upper, char *out)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (int i = n - 1; i >= 0; i--) {
        out[i] = digits[v & 15];
        v >>= 4;
    }
}

/* n hex digits drawn from r, NUL-terminated. */
static void hex_random(struct rng *r, size_t n, char *out)
{
    for (size_t i = 0; i < n; i += 16)
        hex_digits(rng_next(r), n - i < 16 ? (int)(n - i) : 16, false, out + i);
    out[n] = '\0';
}

/* 8-4-4-4-12 layout of the 32 hex digits of hi then lo. */
static void guid_format(uint64_t hi, uint64_t lo, bool upper, char out[37])
{
    char h[32];
    hex_digits(hi, 16, upper, h);
    hex_digits(lo, 16, upper, h + 16);
    memcpy(out, h, 8);
    out[8] = '-';
    memcpy(out + 9, h + 8, 4);
    out[13] = '-';
    memcpy(out + 14, h + 12, 4);
    out[18] = '-';
    memcpy(out + 19, h + 16, 4);
    out[23] = '-';
    memcpy(out + 24, h + 20, 12);
    out[36] = '\0';
}

/* A random version-4 GUID; hi/lo receive its bits for callers that derive more from it. */
static void guid_random(struct rng *r, char out[37], uint64_t *hi_out, uint64_t *lo_out)
{
    uint64_t hi = (rng_next(r) & ~0xF000ULL) | 0x4000ULL;
    uint64_t lo = (rng_next(r) & ~(3ULL << 62)) | (2ULL << 62);
    guid_format(hi, lo, false, out);
    if (hi_out)
        *hi_out = hi;
    if (lo_out)
        *lo_out = lo;
}

/* Rounds to 1/300 s, the precision of the SQL `datetime` columns behind the service's incident
 * and alert bookkeeping times (hence values like .0733333 and .29 in real responses). */
static int64_t sql_time(int64_t t)
{
    int64_t sec = t / SEC_TICKS, frac = t % SEC_TICKS;
    int64_t k = (frac * 300 + SEC_TICKS / 2) / SEC_TICKS;
    return sec * SEC_TICKS + (k * SEC_TICKS + 150) / 300;
}

static int64_t whole_seconds(int64_t t)
{
    return t - t % SEC_TICKS;
}

static int64_t whole_minutes(int64_t t)
{
    return t - t % MIN_TICKS;
}

/* ---- jansson helpers: every key is a literal and every value ASCII or checked UTF-8 ------- */

static void put(json_t *o, const char *key, json_t *v)
{
    json_object_set_new_nocheck(o, key, v);
}

static void put_str(json_t *o, const char *key, const char *v)
{
    put(o, key, v ? json_string_nocheck(v) : json_null());
}

static void put_int(json_t *o, const char *key, int64_t v)
{
    put(o, key, json_integer(v));
}

static void put_time(json_t *o, const char *key, int64_t ticks)
{
    char s[TS_FORMAT_MAX];
    ts_format(ticks, s);
    put(o, key, json_string_nocheck(s));
}

/* ---- catalogue ---------------------------------------------------------------------------- */

enum source { SRC_MDE, SRC_MDO, SRC_MCAS, SRC_AAD, SRC__COUNT };

static const struct {
    const char *name;
    const char *prefix; /* of alertId; providerAlertId is the id without it */
} SOURCES[SRC__COUNT] = {
    [SRC_MDE] = {"MicrosoftDefenderForEndpoint", "da"},
    [SRC_MDO] = {"MicrosoftDefenderForOffice365", "fa"},
    [SRC_MCAS] = {"MicrosoftCloudAppSecurity", "ca"},
    [SRC_AAD] = {"AADIdentityProtection", "ad"},
};

/* Alert categories in kill-chain order, the order multi-stage incident names list them in. */
enum category {
    CAT_INITIAL_ACCESS,
    CAT_EXECUTION,
    CAT_MALWARE,
    CAT_PERSISTENCE,
    CAT_DEFENSE_EVASION,
    CAT_CREDENTIAL_ACCESS,
    CAT_DISCOVERY,
    CAT_COMMAND_AND_CONTROL,
    CAT_EXFILTRATION,
    CAT_RANSOMWARE,
    CAT_IMPACT,
    CAT_SUSPICIOUS_ACTIVITY,
    CAT_UNWANTED_SOFTWARE,
    CAT__COUNT,
};

static const struct {
    const char *name;
    const char *display;
} CATEGORIES[CAT__COUNT] = {
    [CAT_INITIAL_ACCESS] = {"InitialAccess", "Initial access"},
    [CAT_EXECUTION] = {"Execution", "Execution"},
    [CAT_MALWARE] = {"Malware", "Malware"},
    [CAT_PERSISTENCE] = {"Persistence", "Persistence"},
    [CAT_DEFENSE_EVASION] = {"DefenseEvasion", "Defense evasion"},
    [CAT_CREDENTIAL_ACCESS] = {"CredentialAccess", "Credential access"},
    [CAT_DISCOVERY] = {"Discovery", "Discovery"},
    [CAT_COMMAND_AND_CONTROL] = {"CommandAndControl", "Command and control"},
    [CAT_EXFILTRATION] = {"Exfiltration", "Exfiltration"},
    [CAT_RANSOMWARE] = {"Ransomware", "Ransomware"},
    [CAT_IMPACT] = {"Impact", "Impact"},
    [CAT_SUSPICIOUS_ACTIVITY] = {"SuspiciousActivity", "Suspicious activity"},
    [CAT_UNWANTED_SOFTWARE] = {"UnwantedSoftware", "Unwanted software"},
};

/* Threat families fill the {family} of antivirus titles; file is the detected file's name. */
enum family_kind { FAM_NONE, FAM_HACKTOOL, FAM_MALWARE, FAM_PUA, FAM_RANSOM, FAM__COUNT };

struct family {
    const char *name;
    const char *file;
};

static const struct family HACKTOOLS[] = {
    {"Mimikatz", "mimikatz.exe"}, {"Powerpuff", "powerdump.ps1"},   {"Rubeus", "Rubeus.exe"},
    {"Lazagne", "lazagne.exe"},   {"Sharphound", "SharpHound.exe"}, {"Impacket", "secretsdump.exe"},
};
static const struct family MALWARE[] = {
    {"Wacatac", "setup_x64.exe"},      {"AgentTesla", "PO_88231.exe"},
    {"Qakbot", "report.dll"},          {"IcedID", "license.dat"},
    {"Lokibot", "Payment_Advice.exe"}, {"Formbook", "DHL_Shipment.exe"},
    {"Emotet", "Invoice_2026.xlsm"},
};
static const struct family PUAS[] = {
    {"Presenoker", "setup.exe"},
    {"BundleInstaller", "free_pdf_converter.exe"},
    {"CoinMiner", "xmrig.exe"},
};
static const struct family RANSOMS[] = {
    {"Lockbit", "lb3.exe"},
    {"BlackCat", "enc.exe"},
    {"Akira", "w.exe"},
};

static const struct {
    const struct family *list;
    uint32_t n;
} FAMILIES[FAM__COUNT] = {
    [FAM_NONE] = {NULL, 0},
    [FAM_HACKTOOL] = {HACKTOOLS, ARRAY_SIZE(HACKTOOLS)},
    [FAM_MALWARE] = {MALWARE, ARRAY_SIZE(MALWARE)},
    [FAM_PUA] = {PUAS, ARRAY_SIZE(PUAS)},
    [FAM_RANSOM] = {RANSOMS, ARRAY_SIZE(RANSOMS)},
};

/* Process evidence: image, its folder, command line, parent image and folder. */
enum proc {
    PROC_NONE,
    PROC_POWERSHELL,
    PROC_RUNDLL,
    PROC_PROCDUMP,
    PROC_REG,
    PROC_SCHTASKS,
    PROC_RECON,
    PROC_WMIC,
    PROC_BROWSER,
    PROC_DROPPED,
    PROC__COUNT
};

static const struct {
    const char *file, *path, *cmdline, *parent_file, *parent_path;
} PROCS[PROC__COUNT] = {
    [PROC_NONE] = {NULL, NULL, NULL, NULL, NULL},
    [PROC_POWERSHELL] = {"powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0",
                         "powershell.exe -NoP -NonI -W Hidden -Exec Bypass -Enc "
                         "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAG"
                         "UAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAcwA6"
                         "AC8ALwA=",
                         "WINWORD.EXE", "C:\\Program Files\\Microsoft Office\\root\\Office16"},
    [PROC_RUNDLL] = {"rundll32.exe", "C:\\Windows\\System32",
                     "rundll32.exe C:\\Users\\{account}\\AppData\\Local\\Temp\\update.dll,"
                     "DllRegisterServer",
                     "explorer.exe", "C:\\Windows"},
    [PROC_PROCDUMP] = {"procdump64.exe", "C:\\Users\\{account}\\Downloads",
                       "procdump64.exe -accepteula -ma lsass.exe C:\\Windows\\Temp\\ls.dmp",
                       "cmd.exe", "C:\\Windows\\System32"},
    [PROC_REG] = {"reg.exe", "C:\\Windows\\System32",
                  "reg.exe add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v "
                  "OneDriveUpdate /t REG_SZ /d C:\\ProgramData\\odupd.exe /f",
                  "cmd.exe", "C:\\Windows\\System32"},
    [PROC_SCHTASKS] = {"schtasks.exe", "C:\\Windows\\System32",
                       "schtasks.exe /create /sc minute /mo 30 /tn \"OneDrive Standalone Update\" "
                       "/tr C:\\ProgramData\\odupd.exe /f",
                       "cmd.exe", "C:\\Windows\\System32"},
    [PROC_RECON] = {"net.exe", "C:\\Windows\\System32", "net.exe group \"Domain Admins\" /domain",
                    "cmd.exe", "C:\\Windows\\System32"},
    [PROC_WMIC] = {"WMIC.exe", "C:\\Windows\\System32\\wbem",
                   "wmic.exe /node:{ip} process call create \"cmd.exe /c "
                   "C:\\ProgramData\\odupd.exe\"",
                   "powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0"},
    [PROC_BROWSER] = {"msedge.exe", "C:\\Program Files (x86)\\Microsoft\\Edge\\Application",
                      "\"msedge.exe\" --single-argument {url}", "explorer.exe", "C:\\Windows"},
    [PROC_DROPPED] = {"{file}", "C:\\Users\\{account}\\Downloads", "\"{file}\"", "explorer.exe",
                      "C:\\Windows"},
};

static const char DESC_HACKTOOL[] =
    "Readily available tools, such as hacking programs, can be used by unauthorized individuals "
    "to spy on users. When used by attackers, these tools are often installed without "
    "authorization and used to compromise targeted machines.\n\nThese tools are often used to "
    "collect personal information from browser records, record key presses, access email and "
    "instant messages, record voice and video conversations, and take screenshots.\n\nThis "
    "detection might indicate that Microsoft Defender Antivirus has stopped the tool from being "
    "installed and used effectively. However, it is prudent to check the machine for the files "
    "and processes associated with the detected tool.";
static const char DESC_MALWARE_PREVENTED[] =
    "Malware and unwanted software are undesirable applications that perform annoying, "
    "disruptive, or harmful actions on affected machines. Some of these undesirable applications "
    "can replicate and spread from one machine to another. Others are able to receive commands "
    "from remote attackers and perform activities associated with cyber attacks.\n\nThis "
    "detection might indicate that the malware was stopped from delivering its payload. However, "
    "it is prudent to check the machine for signs of infection.";
static const char DESC_MALWARE_ACTIVE[] =
    "Malware and unwanted software are undesirable applications that perform annoying, "
    "disruptive, or harmful actions on affected machines. Some of these undesirable applications "
    "can replicate and spread from one machine to another. Others are able to receive commands "
    "from remote attackers and perform activities associated with cyber attacks.\n\nA malware is "
    "considered active if it is found running on the machine or it already has persistence "
    "mechanisms. Active malware detections are assigned higher severity ratings.";

/*
 * One alert kind. `entities` has one letter per evidence item (U user, I ip, L url, F file,
 * P process, M mailbox, E mail message, C mail cluster, R registry); a lower-case letter is
 * present half the time. Severities are enum severity values.
 */
struct tpl {
    enum source src;
    enum category cat;
    enum family_kind fam;
    enum proc proc;
    unsigned char sev_lo, sev_hi;
    unsigned char weight;
    bool any_os;    /* also raised on macOS and Linux devices */
    bool prevented; /* file evidence was blocked: detectionStatus Prevented */
    const char *detection;
    const char *title;    /* may hold {family} */
    const char *detector; /* rule name; NULL: a GUID derived from the title */
    const char *threat;   /* fixed threatFamilyName, for templates without a family */
    const char *entities;
    const char *mitre;       /* comma-separated technique ids */
    const char *description; /* may hold {user} {upn} {device} {ip} {n} {family} */
};

#define L SEVERITY_LOW
#define M SEVERITY_MEDIUM
#define H SEVERITY_HIGH
#define I SEVERITY_INFORMATIONAL
/* clang-format off: one row per alert kind reads better than one field per line */
static const struct tpl TEMPLATES[] = {
    /* Defender for Endpoint */
    {SRC_MDE, CAT_MALWARE, FAM_HACKTOOL, PROC_NONE, L, M, 4, true, false, "WindowsDefenderAv",
     "'{family}' hacktool was detected", NULL, NULL, "Fu", "", DESC_HACKTOOL},
    {SRC_MDE, CAT_MALWARE, FAM_HACKTOOL, PROC_NONE, L, L, 3, true, true, "WindowsDefenderAv",
     "'{family}' hacktool was prevented", NULL, NULL, "F", "", DESC_HACKTOOL},
    {SRC_MDE, CAT_MALWARE, FAM_MALWARE, PROC_NONE, I, L, 5, true, true, "WindowsDefenderAv",
     "'{family}' malware was prevented", NULL, NULL, "F", "", DESC_MALWARE_PREVENTED},
    {SRC_MDE, CAT_MALWARE, FAM_MALWARE, PROC_DROPPED, M, H, 3, true, false, "WindowsDefenderAv",
     "'{family}' malware was detected", NULL, NULL, "FpU", "", DESC_MALWARE_ACTIVE},
    {SRC_MDE, CAT_UNWANTED_SOFTWARE, FAM_PUA, PROC_NONE, L, L, 3, true, false, "WindowsDefenderAv",
     "'{family}' unwanted software was detected", NULL, NULL, "F", "",
     "Potentially unwanted applications (PUA) are applications that can negatively impact "
     "machine performance, display unwanted advertisements, or install other software that may "
     "be harmful."},
    {SRC_MDE, CAT_RANSOMWARE, FAM_RANSOM, PROC_NONE, H, H, 1, false, true, "WindowsDefenderAv",
     "'{family}' ransomware was prevented", NULL, NULL, "Ff", "T1486",
     "Ransomware was detected and prevented from running on {device}. Ransomware encrypts files "
     "and demands payment to restore access; check the device for other signs of compromise."},
    {SRC_MDE, CAT_RANSOMWARE, FAM_NONE, PROC_DROPPED, H, H, 1, false, false, "WindowsDefenderAtp",
     "Ransomware behavior detected in the file system", NULL, NULL, "FFfPU", "T1486",
     "Ransomware-like file activity was observed on {device}: {n} files were renamed and "
     "encrypted in a short period. Ransomware typically encrypts user data and demands payment "
     "to restore access."},
    {SRC_MDE, CAT_EXECUTION, FAM_NONE, PROC_POWERSHELL, M, M, 4, false, false, "WindowsDefenderAtp",
     "Suspicious PowerShell command line", NULL, NULL, "PUl", "T1059.001",
     "A suspicious PowerShell activity was observed on the machine. This behavior may indicate "
     "that PowerShell was used during installation, exploration, or in some cases in lateral "
     "movement activities which are used by attackers to invoke modules, download external "
     "payloads, or get more information about the system. Attackers usually use PowerShell to "
     "bypass security protection mechanisms by executing their payload in memory without "
     "touching the disk and leaving any trace."},
    {SRC_MDE, CAT_CREDENTIAL_ACCESS, FAM_NONE, PROC_PROCDUMP, H, H, 2, false, false,
     "WindowsDefenderAtp", "Suspicious access to LSASS service", NULL, NULL, "PfU", "T1003.001",
     "A process accessed the memory of the Local Security Authority Subsystem Service (LSASS) on "
     "{device}. Attackers can read credentials from LSASS memory to move laterally and escalate "
     "privileges."},
    {SRC_MDE, CAT_PERSISTENCE, FAM_NONE, PROC_REG, M, M, 3, false, false, "WindowsDefenderAtp",
     "Anomaly detected in ASEP registry", NULL, NULL, "RPu", "T1547.001",
     "A process registered a suspicious command or file in ASEP registry key, where it will be "
     "run after a reboot. An attacker may place a malicious piece of software in such a location "
     "to prevent losing access if a machine is turned off."},
    {SRC_MDE, CAT_PERSISTENCE, FAM_NONE, PROC_SCHTASKS, M, M, 2, false, false, "WindowsDefenderAtp",
     "Suspicious scheduled task", NULL, NULL, "PFu", "T1053.005",
     "A scheduled task was created to run a file from an unusual location. Attackers use "
     "scheduled tasks to maintain persistence and to run code with elevated privileges."},
    {SRC_MDE, CAT_DEFENSE_EVASION, FAM_NONE, PROC_RUNDLL, M, H, 2, false, false,
     "WindowsDefenderAtp", "Suspicious process injection observed", NULL, NULL, "Pu",
     "T1055,T1055.002",
     "A process was observed injecting code into another process. Attackers use process "
     "injection to run malicious code inside legitimate processes and evade defenses."},
    {SRC_MDE, CAT_DISCOVERY, FAM_NONE, PROC_RECON, L, M, 3, false, false, "WindowsDefenderAtp",
     "Suspicious sequence of exploration activities", NULL, NULL, "PU", "T1016,T1033,T1087.002",
     "A process called a set of Windows commands to explore the network, users, and permissions "
     "on {device}. Attackers do this to learn about an environment before moving laterally or "
     "escalating privileges."},
    {SRC_MDE, CAT_COMMAND_AND_CONTROL, FAM_NONE, PROC_BROWSER, M, M, 2, false, false, "CustomerTI",
     "Connection to a custom network indicator", NULL, NULL, "LiP", "T1071.001",
     "An endpoint has connected to a URL or domain in your list of custom indicators."},
    {SRC_MDE, CAT_EXECUTION, FAM_NONE, PROC_WMIC, M, M, 2, false, false, "WindowsDefenderAtp",
     "Suspicious WMI process creation", NULL, NULL, "PiU", "T1047",
     "A process was created through Windows Management Instrumentation (WMI) towards {ip}. "
     "Attackers use WMI to run commands on local and remote devices while blending in with "
     "administrative activity."},
    {SRC_MDE, CAT_SUSPICIOUS_ACTIVITY, FAM_NONE, PROC_NONE, M, M, 1, false, false,
     "WindowsDefenderAv", "Meterpreter post-exploitation tool", NULL, "Meterpreter", "FF",
     "T1055.001",
     "Meterpreter, a post-exploitation tool was detected on this device. Meterpreter is deployed "
     "using DLL injection. Meterpreter was used in a wide range of documented attacks, including "
     "attacks involving state-sponsored groups and groups associated with ransomware campaigns. "
     "An attacker might be attempting to establish persistence, discover and steal credentials, "
     "or install and launch a payload in the device that might lead to further system "
     "compromise. Detections of Meterpreter tools and activity should be thoroughly "
     "investigated."},
    {SRC_MDE, CAT_SUSPICIOUS_ACTIVITY, FAM_NONE, PROC_NONE, I, I, 1, true, false,
     "AutomatedInvestigation", "Automated investigation started manually", NULL, NULL, "", "",
     "An automated investigation was started manually by a security operations analyst."},
    /* Defender for Office 365 */
    {SRC_MDO, CAT_INITIAL_ACCESS, FAM_NONE, PROC_NONE, I, I, 4, true, false, "OfficeATP",
     "Email reported by user as malware or phish", NULL, NULL, "MECCi", "",
     "This alert is triggered when any email message is reported as malware or phish by users "
     "-V1.0.0.2"},
    {SRC_MDO, CAT_INITIAL_ACCESS, FAM_NONE, PROC_NONE, I, M, 4, true, false, "OfficeATP",
     "Email messages containing malicious URL removed after delivery", NULL, NULL, "MELc",
     "T1566.002", "Emails with malicious URL that were delivered and later removed -V1.0.0.3"},
    {SRC_MDO, CAT_INITIAL_ACCESS, FAM_NONE, PROC_NONE, I, M, 3, true, false, "OfficeATP",
     "Email messages containing malware removed after delivery", NULL, NULL, "MEFc", "T1566.001",
     "Emails with malware that were delivered and later removed -V1.0.0.2"},
    {SRC_MDO, CAT_INITIAL_ACCESS, FAM_NONE, PROC_NONE, H, H, 2, true, false, "OfficeATP",
     "A potentially malicious URL click was detected", NULL, NULL, "ULme", "T1566.002",
     "We have detected that one of your users has recently clicked on a link that was found to "
     "be malicious. -V1.0.0.5"},
    {SRC_MDO, CAT_SUSPICIOUS_ACTIVITY, FAM_NONE, PROC_NONE, M, M, 1, true, false, "OfficeATP",
     "Suspicious email sending patterns detected", NULL, NULL, "MUi", "",
     "The user {upn} sent an unusually high number of messages ({n}) to external recipients. "
     "-V1.0.0.1"},
    /* Defender for Cloud Apps */
    {SRC_MCAS, CAT_IMPACT, FAM_NONE, PROC_NONE, M, M, 1, true, false, "MCAS", "Ransomware activity",
     NULL, NULL, "UI", "T1486",
     "The user {user} ({upn}) manipulated {n} files with multiple extensions ending with the "
     "uncommon extension herunterladen. This is an unusual number of file manipulations and is "
     "indicative of a potential ransomware attack."},
    {SRC_MCAS, CAT_INITIAL_ACCESS, FAM_NONE, PROC_NONE, M, M, 3, true, false, "MCAS",
     "Impossible travel activity", NULL, NULL, "UII", "T1078",
     "The user {user} ({upn}) performed activities from {ip} and from a distant location within a "
     "time period shorter than the expected travel time between the two locations."},
    {SRC_MCAS, CAT_INITIAL_ACCESS, FAM_NONE, PROC_NONE, L, M, 2, true, false, "MCAS",
     "Activity from infrequent country", NULL, NULL, "UI", "T1078",
     "The user {user} ({upn}) performed an activity from {ip}, in a country not recently or never "
     "visited by any user in the organization."},
    /* U+200B appears in real descriptions; clients must get it back untouched. */
    {SRC_MCAS, CAT_DEFENSE_EVASION, FAM_NONE, PROC_NONE, M, M, 2, true, false, "MCAS",
     "Suspicious inbox manipulation rule", NULL, NULL, "UMi", "T1564.008",
     "The user {user} ({upn}) created an inbox rule that moves or deletes messages\xE2\x80\x8B "
     "and forwards them to an external address. This may indicate that the account is "
     "compromised."},
    {SRC_MCAS, CAT_EXFILTRATION, FAM_NONE, PROC_NONE, M, M, 1, true, false, "MCAS",
     "Mass download by a single user", NULL, NULL, "UI", "T1530",
     "The user {user} ({upn}) downloaded {n} files from SharePoint Online in a single session. "
     "This is an unusual number of downloads for this user."},
    /* Entra ID Protection */
    {SRC_AAD, CAT_INITIAL_ACCESS, FAM_NONE, PROC_NONE, L, H, 4, true, false, "AAD",
     "Unfamiliar sign-in properties", "UnfamiliarLocation", NULL, "UI", "T1078,T1078.004",
     "The following properties of this sign-in are unfamiliar for the given user: ASN, Browser, "
     "Device, IP, Location, EASId, TenantIPsubnet"},
    {SRC_AAD, CAT_INITIAL_ACCESS, FAM_NONE, PROC_NONE, M, M, 2, true, false, "AAD",
     "Anonymous IP address", "AnonymousLogin", NULL, "UI", "T1090.003",
     "Sign-in from an anonymous IP address (e.g. Tor browser, anonymizer VPNs)"},
    {SRC_AAD, CAT_INITIAL_ACCESS, FAM_NONE, PROC_NONE, L, M, 2, true, false, "AAD",
     "Atypical travel", "ImpossibleTravel", NULL, "UI", "T1078",
     "Sign-in from an atypical location based on the user's recent sign-ins"},
    {SRC_AAD, CAT_CREDENTIAL_ACCESS, FAM_NONE, PROC_NONE, H, H, 1, true, false, "AAD",
     "Password spray", "PasswordSpray", NULL, "UI", "T1110.003",
     "A password spray attack has been detected: multiple usernames were attacked using common "
     "passwords from {ip}"},
};
/* clang-format on */
#undef L
#undef M
#undef H
#undef I

/* ---- tenant data -------------------------------------------------------------------------- */

static const struct {
    const char *display, *ascii;
} FIRST_NAMES[] = {
    {"Adele", "adele"},
    {"Alex", "alex"},
    {"Megan", "megan"},
    {"Nestor", "nestor"},
    {"Lynne", "lynne"},
    {"Isaiah", "isaiah"},
    {"Johanna", "johanna"},
    {"Lee", "lee"},
    {"Miriam", "miriam"},
    {"Pradeep", "pradeep"},
    {"Diego", "diego"},
    {"Grady", "grady"},
    {"Joni", "joni"},
    {"Patti", "patti"},
    {"Irvin", "irvin"},
    {"Ren\xC3\xA9"
     "e",
     "renee"},
    {"J\xC3\xBCrgen", "juergen"},
    {"Zo\xC3\xAB", "zoe"},
    {"Chris", "chris"},
    {"Priya", "priya"},
    {"Kenji", "kenji"},
    {"Fatima", "fatima"},
    {"Lars", "lars"},
    {"Henrietta", "henrietta"},
};
static const struct {
    const char *display, *ascii;
} LAST_NAMES[] = {
    {"Vance", "vance"},
    {"Wilber", "wilber"},
    {"Bowen", "bowen"},
    {"Wilke", "wilke"},
    {"Robbins", "robbins"},
    {"Langer", "langer"},
    {"Lorenz", "lorenz"},
    {"Gu", "gu"},
    {"Graham", "graham"},
    {"Gupta", "gupta"},
    {"Siciliani", "siciliani"},
    {"Archie", "archie"},
    {"Mueller", "mueller"},
    {"Sherman", "sherman"},
    {"Fernandez", "fernandez"},
    {"Sink", "sink"},
    {"Dubois", "dubois"},
    {"Sch\xC3\xA4"
     "fer",
     "schaefer"},
    {"Novak", "novak"},
    {"Phillips", "phillips"},
    {"Okafor", "okafor"},
    {"Tanaka", "tanaka"},
    {"Haddad", "haddad"},
    {"Nilsson", "nilsson"},
};

#define DOMAIN_UPN     "contoso.com"
#define DOMAIN_NETBIOS "CONTOSO"
#define DOMAIN_DNS     "corp.contoso.com"

static const char *const DEPARTMENTS[] = {"fin", "hr", "eng", "mkt", "it", "ops"};
static const char *const SERVER_ROLES[] = {"sql", "file", "web", "dc", "app", "exch"};
static const char *const DEVICE_TAGS[] = {"VIP", "PAW", "Contractor"};

static const char *const URLS[] = {
    "https://contoso-my.sharepoint.com.docs-viewer.net/Shared%20Documents/Invoice.html",
    "https://m365-auth-check.com/login?client=contoso",
    "http://down.esales360.cn/setup.exe",
    "https://dhl-parcel-tracking.info/track?id=48213",
    "https://storage.googleapis.com/qb-drop-7731/report.html",
    "https://docusign.secure-envelope.net/review/8f2a1c",
    "https://cdn-update-check.xyz/a/update.bin",
    "https://onedrive-share.live-files.org/view.aspx?doc=Q3_Payroll",
};

static const struct {
    const char *sender, *subject, *attachment;
} MAILS[] = {
    {"billing@contoso-invoices.com", "Invoice #{n} is overdue", "Invoice_{n}.html"},
    {"no-reply@docusign-secure.net", "DocuSign: Please review and sign", "Agreement.pdf.iso"},
    {"it-support@contoso-helpdesk.com", "Your password expires today", "Reset_Instructions.htm"},
    {"voicemail@m365-notify.net", "Voicemail received (0:42)", "VM_0042.wav.html"},
    {"user.abc@mail.contoso.co.in", "[EXTERNAL] Attention", "Remittance.xlsm"},
    {"notification@dhl-parcel-tracking.info", "DHL: Parcel delivery notice", "DHL_Label.zip"},
};

static const char *const CLUSTER_BY[] = {
    "Subject;P2SenderDomain;ContentType",
    "Subject;SenderIp;ContentType",
    "BodyFingerprintBin1;P2SenderDomain;ContentType",
    "BodyFingerprintBin1;SenderIp;ContentType",
};

/* First octets of busy public IPv4 ranges, so attacker addresses never look private. */
static const unsigned char PUBLIC_OCTETS[] = {
    20,  23,  31,  37,  45,  46,  62,  77,  78,  80,  81,  85,  89,  91,  93,  94, 95,
    103, 104, 109, 141, 146, 176, 178, 185, 188, 193, 194, 195, 203, 212, 213, 217};

static const char *const ACTORS[] = {"Storm-0501", "Octo Tempest", "Mint Sandstorm",
                                     "Midnight Blizzard"};

static const char *const INCIDENT_TAGS[] = {"VIP",  "Phishing campaign", "Red Team", "Escalated",
                                            "Exec", "Needs review",      "Tier0"};

static const char *const COMMENTS_OPEN[] = {
    "Triage started, pulling the device timeline.",
    "Isolated the device pending investigation.",
    "Contacted the user, waiting for a reply.",
    "Escalated to tier 2.",
    "Reset the user's password and revoked all sessions.",
    "Collected the investigation package.",
    "Blocked the sender domain at the gateway.",
};
static const char *const COMMENTS_TP[] = {
    "Confirmed malicious. Device reimaged and credentials reset.",
    "Phishing campaign contained; affected mailboxes cleaned.",
    "Confirmed compromise, see ticket SEC-{n} for the follow-up.",
};
static const char *const COMMENTS_BENIGN[] = {
    "Authorized penetration test (ticket SEC-{n}).",
    "Expected admin activity by IT operations.",
    "Benign: internal tool flagged by heuristics. Tuning request filed.",
    "Not enough data to confirm; closing and monitoring.",
};

/* ---- users and devices ------------------------------------------------------------------- */

struct user {
    char display[48];
    char account[40];
    char upn[64];
    char aad_id[37];
    char sid[64];       /* on-premises SID */
    char cloud_sid[64]; /* S-1-12-1-..., Entra ID's SID form of aad_id */
    bool hybrid;        /* synced from on-premises AD */
};

/* The tenant's on-premises domain SID (S-1-5-21-a-b-c). */
static void domain_sid(uint64_t seed, uint32_t parts[3])
{
    struct rng r = rng_for(seed, STREAM_TENANT, 0);
    for (int i = 0; i < 3; i++)
        parts[i] = (uint32_t)(rng_next(&r) >> 33) + 100000000u;
}

static void user_get(uint64_t seed, unsigned u, struct user *out)
{
    unsigned nf = ARRAY_SIZE(FIRST_NAMES), nl = ARRAY_SIZE(LAST_NAMES);
    unsigned f = u % nf, l = (u / nf + 5 * f) % nl; /* injective for u < nf * nl */
    snprintf(out->display, sizeof(out->display), "%s %s", FIRST_NAMES[f].display,
             LAST_NAMES[l].display);
    snprintf(out->account, sizeof(out->account), "%s.%s", FIRST_NAMES[f].ascii,
             LAST_NAMES[l].ascii);
    snprintf(out->upn, sizeof(out->upn), "%s@" DOMAIN_UPN, out->account);
    struct rng r = rng_for(seed, STREAM_USER, u);
    uint64_t hi, lo;
    guid_random(&r, out->aad_id, &hi, &lo);
    /* Entra ID's SID encodes the object id's GUID fields as four little-endian 32-bit words. */
    uint32_t d1 = (uint32_t)(hi >> 32), d2 = (uint32_t)(hi >> 16) & 0xFFFF, d3 = hi & 0xFFFF;
    uint32_t w3 = 0, w4 = 0;
    for (int i = 0; i < 4; i++) {
        w3 |= (uint32_t)((lo >> (56 - 8 * i)) & 0xFF) << (8 * i);
        w4 |= (uint32_t)((lo >> (24 - 8 * i)) & 0xFF) << (8 * i);
    }
    snprintf(out->cloud_sid, sizeof(out->cloud_sid),
             "S-1-12-1-%" PRIu32 "-%" PRIu32 "-%" PRIu32 "-%" PRIu32, d1, (d3 << 16) | d2, w3, w4);
    uint32_t dom[3];
    domain_sid(seed, dom);
    snprintf(out->sid, sizeof(out->sid), "S-1-5-21-%" PRIu32 "-%" PRIu32 "-%" PRIu32 "-%u", dom[0],
             dom[1], dom[2], 1104 + 7 * u);
    out->hybrid = rng_below(&r, 10) < 7;
}

enum platform { OS_WIN10, OS_WIN11, OS_WS2016, OS_WS2019, OS_WS2022, OS_LINUX, OS_MACOS };

static const struct {
    const char *name, *version;
    int build; /* 0: null */
    bool windows, server;
} PLATFORMS[] = {
    [OS_WIN10] = {"Windows10", "22H2", 19045, true, false},
    [OS_WIN11] = {"Windows11", "23H2", 22631, true, false},
    [OS_WS2016] = {"WindowsServer2016", "1607", 14393, true, true},
    [OS_WS2019] = {"WindowsServer2019", "1809", 17763, true, true},
    [OS_WS2022] = {"WindowsServer2022", "21H2", 20348, true, true},
    [OS_LINUX] = {"Linux", NULL, 0, false, true},
    [OS_MACOS] = {"macOS", NULL, 0, false, false},
};

struct device {
    char id[41];
    char aad_id[37]; /* "" when not Entra-joined */
    char host[32];
    char dns[64];
    char logon_account[48];
    char logon_domain[32];
    enum platform os;
    const char *group;
    const char *health;
    const char *av;
    const char *processor;
    const char *tag; /* NULL: no device tags */
    int64_t first_seen;
    unsigned user; /* primary user, index into the user pool */
};

static void upper_copy(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (src[i] >= 'a' && src[i] <= 'z') ? (char)(src[i] - 32) : src[i];
    dst[i] = '\0';
}

static void device_get(uint64_t seed, unsigned d, struct device *out)
{
    struct rng r = rng_for(seed, STREAM_DEVICE, d);
    hex_random(&r, 40, out->id);
    out->user = rng_below(&r, N_USERS);
    struct user u = {0};
    user_get(seed, out->user, &u);
    unsigned kind = rng_below(&r, 100);
    out->aad_id[0] = '\0';
    out->tag = NULL;
    out->processor = "x64";
    snprintf(out->logon_account, sizeof(out->logon_account), "%s", u.account);
    snprintf(out->logon_domain, sizeof(out->logon_domain), DOMAIN_NETBIOS);
    if (kind < 13) { /* servers */
        const char *role = PICK(&r, SERVER_ROLES);
        out->os = kind < 10 ? (enum platform)(OS_WS2016 + rng_below(&r, 3)) : OS_LINUX;
        snprintf(out->host, sizeof(out->host), "%s-%s-%03u", kind < 10 ? "srv" : "lnx", role, d);
        out->group = "Servers";
        if (strcmp(role, "dc") == 0 && kind < 10)
            out->tag = "Tier0";
        snprintf(out->logon_account, sizeof(out->logon_account), "adm-%s", u.account);
    } else if (kind < 18) { /* macOS laptops: not domain-joined, named after their user */
        const char *first = u.account;
        size_t n = strcspn(first, ".");
        snprintf(out->host, sizeof(out->host), "mbp-%.*s-%u", (int)n, first, d);
        out->os = OS_MACOS;
        out->group = "Default";
        out->processor = rng_below(&r, 2) ? "arm64" : "x64";
        upper_copy(out->logon_domain, sizeof(out->logon_domain), out->host);
    } else { /* Windows workstations */
        const char *dept = PICK(&r, DEPARTMENTS);
        out->os = rng_below(&r, 2) ? OS_WIN11 : OS_WIN10;
        snprintf(out->host, sizeof(out->host), "%s-ws-%03u", dept, d);
        out->group = strcmp(dept, "fin") == 0  ? "Finance-Workstations"
                     : strcmp(dept, "it") == 0 ? "WDATP-Ring0"
                                               : "Default";
        if (rng_below(&r, 100) < 85)
            guid_random(&r, out->aad_id, NULL, NULL);
        if (rng_below(&r, 100) < 10)
            out->tag = PICK(&r, DEVICE_TAGS);
    }
    if (out->os == OS_MACOS)
        snprintf(out->dns, sizeof(out->dns), "%s", out->host);
    else
        snprintf(out->dns, sizeof(out->dns), "%s." DOMAIN_DNS, out->host);
    unsigned h = rng_below(&r, 100);
    out->health = h < 90 ? "Active" : h < 97 ? "Inactive" : "ImpairedCommunication";
    unsigned av = rng_below(&r, 100);
    if (PLATFORMS[out->os].windows)
        out->av = av < 92 ? "Updated" : "NotUpdated";
    else
        out->av = av < 80 ? "Updated" : "NotSupported";
    /* Onboarded before the 90-day window, so firstSeen precedes every demo alert. */
    out->first_seen = DEMO_EPOCH_TICKS - 95 * DAY_TICKS - rng_range(&r, 0, 900 * DAY_TICKS);
}

/* ---- the plan ----------------------------------------------------------------------------- */

enum scenario { SCN_ENDPOINT, SCN_EMAIL, SCN_IDENTITY };

struct alert_plan {
    const struct tpl *t;
    const struct family *fam; /* NULL unless t->fam */
    char title[96];
    enum severity sev;
    int64_t first, last, created, updated, resolved; /* resolved 0: null */
    int dev;                                         /* index into devices[], -1: none */
    int user;                                        /* index into users[] */
    char ents[MAX_ENTITIES + 1];
    uint64_t uniq; /* (incident id << 3) | k: distinct for every alert of a set */
};

struct comment_plan {
    const char *text;
    unsigned analyst;
    int64_t at;
};

struct incident_plan {
    uint64_t seed;
    int64_t id;
    enum status status;
    int64_t redirect_to;
    enum classification cls;
    enum determination det;
    unsigned assignee; /* analystN@contoso.com, 0: unassigned */
    int64_t created, updated;
    enum severity sev;
    unsigned ndevices, nusers, nalerts, ncomments, ntags;
    struct device devices[MAX_DEVICES];
    struct user users[MAX_USERS];
    struct alert_plan alerts[MAX_ALERTS];
    struct comment_plan comments[MAX_COMMENTS];
    const char *tags[MAX_TAGS];
    bool air;              /* an automated investigation ran */
    const char *air_state; /* its investigationState */
    const char *actor;     /* activity group behind ransomware alerts, or NULL */
    char ip[16];           /* the attacker's address */
    const char *url;
    unsigned mail; /* index into MAILS */
    unsigned n;    /* the {n} of descriptions */
    char name[192];
};

/* Status of incident id in the set, from its own stream so redirect targets can be checked. */
static enum status status_of(uint64_t seed, int64_t id)
{
    struct rng r = rng_for(seed, STREAM_STATUS, (uint64_t)id);
    unsigned u = rng_below(&r, 1000);
    if (u < 30)
        return id > 1 ? STATUS_REDIRECTED : STATUS_ACTIVE;
    if (u < 180)
        return STATUS_RESOLVED;
    if (u < 300)
        return STATUS_IN_PROGRESS;
    return STATUS_ACTIVE;
}

/* Appends src to out[*len..cap), aborting on overflow: the catalogue is sized for the buffers. */
static void append(char *out, size_t cap, size_t *len, const char *src, size_t n)
{
    if (*len + n >= cap)
        BUG("demo text longer than %zu bytes", cap);
    memcpy(out + *len, src, n);
    *len += n;
    out[*len] = '\0';
}

/* Expands {user} {upn} {account} {device} {ip} {url} {n} {family} {file} in fmt. */
static void expand(const struct incident_plan *p, const struct alert_plan *a, const char *fmt,
                   char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    const struct user *u = &p->users[a ? a->user : 0];
    while (*fmt) {
        const char *open = strchr(fmt, '{');
        if (!open) {
            append(out, cap, &len, fmt, strlen(fmt));
            break;
        }
        append(out, cap, &len, fmt, (size_t)(open - fmt));
        const char *close = strchr(open, '}');
        if (!close)
            BUG("unterminated placeholder in '%s'", fmt);
        size_t n = (size_t)(close - open - 1);
        char num[24];
        const char *v = NULL;
        if (n == 4 && memcmp(open + 1, "user", 4) == 0)
            v = u->display;
        else if (n == 3 && memcmp(open + 1, "upn", 3) == 0)
            v = u->upn;
        else if (n == 7 && memcmp(open + 1, "account", 7) == 0)
            v = u->account;
        else if (n == 6 && memcmp(open + 1, "device", 6) == 0)
            v = a && a->dev >= 0 ? p->devices[a->dev].host : "the device";
        else if (n == 2 && memcmp(open + 1, "ip", 2) == 0)
            v = p->ip;
        else if (n == 3 && memcmp(open + 1, "url", 3) == 0)
            v = p->url;
        else if (n == 6 && memcmp(open + 1, "family", 6) == 0)
            v = a && a->fam ? a->fam->name : "";
        else if (n == 4 && memcmp(open + 1, "file", 4) == 0)
            v = a && a->fam ? a->fam->file : "odupd.exe";
        else if (n == 1 && open[1] == 'n') {
            snprintf(num, sizeof(num), "%u", p->n);
            v = num;
        } else
            BUG("unknown placeholder in '%s'", fmt);
        append(out, cap, &len, v, strlen(v));
        fmt = close + 1;
    }
}

/* Draws a template whose source lies in [lo, hi], by weight; only any_os ones when asked. */
static const struct tpl *pick_template(struct rng *r, enum source lo, enum source hi,
                                       bool only_any_os)
{
    unsigned total = 0;
    for (size_t i = 0; i < ARRAY_SIZE(TEMPLATES); i++)
        if (TEMPLATES[i].src >= lo && TEMPLATES[i].src <= hi &&
            (!only_any_os || TEMPLATES[i].any_os))
            total += TEMPLATES[i].weight;
    unsigned x = rng_below(r, total);
    for (size_t i = 0; i < ARRAY_SIZE(TEMPLATES); i++) {
        const struct tpl *t = &TEMPLATES[i];
        if (t->src < lo || t->src > hi || (only_any_os && !t->any_os))
            continue;
        if (x < t->weight)
            return t;
        x -= t->weight;
    }
    BUG("template weights");
}

/* A phishing alert that opens an endpoint incident ("reported by multiple sources"). */
static const struct tpl *pick_phish(struct rng *r)
{
    static const char *const titles[] = {
        "Email messages containing malicious URL removed after delivery",
        "Email messages containing malware removed after delivery",
        "A potentially malicious URL click was detected",
    };
    const char *want = PICK(r, titles);
    for (size_t i = 0; i < ARRAY_SIZE(TEMPLATES); i++)
        if (strcmp(TEMPLATES[i].title, want) == 0)
            return &TEMPLATES[i];
    BUG("no template '%s'", want);
}

static unsigned alert_count(struct rng *r)
{
    unsigned x = rng_below(r, 100);
    return x < 55 ? 1 : x < 75 ? 2 : x < 87 ? 3 : x < 95 ? 4 : 5;
}

static void random_ip(struct rng *r, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", PICK(r, PUBLIC_OCTETS), rng_below(r, 256), rng_below(r, 256),
             1 + rng_below(r, 254));
}

/* Draws a determination valid for c (CONTRACT §6), never a deprecated one. */
static enum determination pick_determination(struct rng *r, enum classification c)
{
    enum determination ok[DETERMINATION__COUNT] = {DETERMINATION_NOT_AVAILABLE};
    unsigned n = 0;
    for (int d = DETERMINATION_NOT_AVAILABLE + 1; d < DETERMINATION_APT; d++)
        if (determination_allowed(c, (enum determination)d))
            ok[n++] = (enum determination)d;
    return n ? ok[rng_below(r, n)] : DETERMINATION_NOT_AVAILABLE;
}

/* Sorts alerts by kill-chain stage so a multi-stage story reads forwards in time. */
static void sort_alerts(struct alert_plan *a, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        struct alert_plan x = a[i];
        unsigned j = i;
        for (; j > 0 && a[j - 1].t->cat > x.t->cat; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

static void plan_alerts(struct rng *r, struct incident_plan *p)
{
    unsigned nscn = rng_below(r, 100);
    enum scenario sc = nscn < 55 ? SCN_ENDPOINT : nscn < 77 ? SCN_EMAIL : SCN_IDENTITY;
    p->nalerts = alert_count(r);
    if (sc != SCN_ENDPOINT && p->nalerts > 3)
        p->nalerts = 3;

    unsigned d0 = rng_below(r, N_DEVICES);
    p->ndevices = 0;
    if (sc == SCN_ENDPOINT) {
        unsigned x = rng_below(r, 100);
        p->ndevices = x < 85 ? 1 : x < 95 ? 2 : 3;
        for (unsigned i = 0; i < p->ndevices; i++)
            device_get(p->seed, (d0 + i * 37) % N_DEVICES, &p->devices[i]);
        if (p->ndevices > p->nalerts)
            p->ndevices = p->nalerts;
    }
    p->nusers = rng_below(r, 100) < 15 ? 2 : 1;
    for (unsigned i = 0; i < p->nusers; i++) {
        unsigned u = i == 0 && p->ndevices ? p->devices[0].user : rng_below(r, N_USERS);
        user_get(p->seed, u, &p->users[i]);
    }
    bool non_windows = false; /* then only detections that exist on every OS */
    for (unsigned i = 0; i < p->ndevices; i++)
        non_windows |= !PLATFORMS[p->devices[i].os].windows;

    unsigned mde = 0; /* endpoint alerts so far: the first ones take the devices in turn */
    for (unsigned k = 0; k < p->nalerts; k++) {
        struct alert_plan *a = &p->alerts[k];
        memset(a, 0, sizeof(*a));
        switch (sc) {
        case SCN_ENDPOINT:
            a->t = k == 0 && p->nalerts > 1 && rng_permille(r, 200)
                       ? pick_phish(r)
                       : pick_template(r, SRC_MDE, SRC_MDE, non_windows);
            break;
        case SCN_EMAIL:
            a->t = k > 0 && rng_permille(r, 150) ? pick_template(r, SRC_MCAS, SRC_AAD, true)
                                                 : pick_template(r, SRC_MDO, SRC_MDO, true);
            break;
        case SCN_IDENTITY:
            a->t = pick_template(r, SRC_MCAS, SRC_AAD, true);
            break;
        }
        if (a->t->fam != FAM_NONE)
            a->fam = &FAMILIES[a->t->fam].list[rng_below(r, FAMILIES[a->t->fam].n)];
        a->sev = (enum severity)(a->t->sev_lo + rng_below(r, a->t->sev_hi - a->t->sev_lo + 1u));
        a->user = k == 0 ? 0 : (int)rng_below(r, p->nusers);
        a->dev = -1;
        if (a->t->src == SRC_MDE) {
            a->dev = mde < p->ndevices ? (int)mde : (int)rng_below(r, p->ndevices);
            mde++;
        }
        size_t ne = 0;
        for (const char *e = a->t->entities; *e && ne < MAX_ENTITIES; e++) {
            if (*e >= 'a' && *e <= 'z' && rng_below(r, 2))
                continue;
            a->ents[ne++] = (*e >= 'a' && *e <= 'z') ? (char)(*e - 32) : *e;
        }
        a->ents[ne] = '\0';
    }
    sort_alerts(p->alerts, p->nalerts);
    for (unsigned k = 0; k < p->nalerts; k++) {
        struct alert_plan *a = &p->alerts[k];
        a->uniq = ((uint64_t)p->id << 3) | k;
        expand(p, a, a->t->title, a->title, sizeof(a->title));
    }
}

/* Activity window of an alert created at c; each product rounds activity times its own way. */
static void plan_alert_times(struct rng *r, struct alert_plan *a, int64_t c)
{
    a->created = c;
    switch (a->t->src) {
    case SRC_MDE:
        a->first = c - rng_range(r, 30 * SEC_TICKS, 30 * MIN_TICKS);
        break;
    case SRC_MDO: /* mail flow times are whole minutes */
        a->first = whole_minutes(c - rng_range(r, 1 * MIN_TICKS, 30 * MIN_TICKS));
        break;
    case SRC_MCAS: /* cloud app activity is logged in whole seconds, sometimes days late */
        a->first = whole_seconds(c - rng_range(r, 1 * MIN_TICKS, 2 * DAY_TICKS));
        break;
    case SRC_AAD:
    case SRC__COUNT:
        a->first = c - rng_range(r, 1 * MIN_TICKS, 10 * MIN_TICKS);
        break;
    }
    a->last = a->first;
    if (rng_below(r, 100) < 40) {
        a->last = a->first + rng_range(r, 0, c - a->first);
        if (a->t->src == SRC_MCAS)
            a->last = whole_seconds(a->last);
        else if (a->t->src == SRC_MDO)
            a->last = whole_minutes(a->last);
    }
}

static void plan_times(struct rng *r, struct incident_plan *p)
{
    int64_t c = DEMO_EPOCH_TICKS - rng_range(r, 0, 90 * DAY_TICKS);
    for (unsigned k = 0; k < p->nalerts; k++) {
        if (k > 0) {
            static const int64_t gaps[][2] = {{SEC_TICKS, 60 * SEC_TICKS},
                                              {MIN_TICKS, 30 * MIN_TICKS},
                                              {30 * MIN_TICKS, 6 * HOUR_TICKS},
                                              {6 * HOUR_TICKS, DAY_TICKS}};
            unsigned g = rng_below(r, ARRAY_SIZE(gaps));
            c += rng_range(r, gaps[g][0], gaps[g][1]);
        }
        plan_alert_times(r, &p->alerts[k], c);
    }
    /* The incident is created shortly after its first alert. */
    p->created = p->alerts[0].created + rng_range(r, 200 * MS_TICKS, 900 * MS_TICKS);
}

static void plan_status(struct rng *r, struct incident_plan *p)
{
    int64_t last_alert = p->alerts[p->nalerts - 1].created;
    int64_t handled = 0; /* when an analyst took or closed it */
    p->cls = CLASSIFICATION_UNKNOWN;
    p->det = DETERMINATION_NOT_AVAILABLE;
    p->assignee = 0;
    p->ncomments = 0;
    const char *const *closing = NULL;
    size_t nclosing = 0;
    unsigned comment_permille = 50;

    switch (p->status) {
    case STATUS_ACTIVE:
        if (rng_permille(r, 80))
            p->assignee = 1 + rng_below(r, N_ANALYSTS);
        handled = last_alert + rng_range(r, 5 * MIN_TICKS, DAY_TICKS);
        break;
    case STATUS_IN_PROGRESS:
        p->assignee = 1 + rng_below(r, N_ANALYSTS);
        handled = last_alert + rng_range(r, 5 * MIN_TICKS, 2 * DAY_TICKS);
        if (rng_permille(r, 150))
            p->cls = CLASSIFICATION_TRUE_POSITIVE;
        comment_permille = 500;
        break;
    case STATUS_RESOLVED: {
        if (rng_permille(r, 800))
            p->assignee = 1 + rng_below(r, N_ANALYSTS);
        handled = last_alert + rng_range(r, 10 * MIN_TICKS, 5 * DAY_TICKS);
        unsigned x = rng_below(r, 100);
        p->cls = x < 45   ? CLASSIFICATION_TRUE_POSITIVE
                 : x < 70 ? CLASSIFICATION_INFORMATIONAL_EXPECTED_ACTIVITY
                 : x < 90 ? CLASSIFICATION_FALSE_POSITIVE
                          : CLASSIFICATION_UNKNOWN;
        p->det = p->cls == CLASSIFICATION_UNKNOWN || rng_permille(r, 100)
                     ? DETERMINATION_NOT_AVAILABLE
                     : pick_determination(r, p->cls);
        closing = p->cls == CLASSIFICATION_TRUE_POSITIVE ? COMMENTS_TP : COMMENTS_BENIGN;
        nclosing = p->cls == CLASSIFICATION_TRUE_POSITIVE ? ARRAY_SIZE(COMMENTS_TP)
                                                          : ARRAY_SIZE(COMMENTS_BENIGN);
        comment_permille = 700;
        break;
    }
    case STATUS_REDIRECTED:
    case STATUS__COUNT:
        break;
    }

    /* Alert bookkeeping follows what happened to the incident. */
    for (unsigned k = 0; k < p->nalerts; k++) {
        struct alert_plan *a = &p->alerts[k];
        a->resolved = 0;
        if (p->status == STATUS_RESOLVED) {
            a->resolved = handled + rng_range(r, 0, 100 * MS_TICKS);
            a->updated = a->resolved + rng_range(r, 100 * MS_TICKS, 600 * MS_TICKS);
        } else if (p->status == STATUS_IN_PROGRESS) {
            a->updated = handled + rng_range(r, 100 * MS_TICKS, 600 * MS_TICKS);
        } else {
            a->updated = a->created + rng_range(r, 300 * MS_TICKS, 3 * SEC_TICKS);
        }
    }

    if (p->status != STATUS_REDIRECTED && rng_permille(r, comment_permille)) {
        p->ncomments = 1 + rng_below(r, MAX_COMMENTS);
        unsigned by = p->assignee ? p->assignee : 1 + rng_below(r, N_ANALYSTS);
        int64_t from = p->created + rng_range(r, MIN_TICKS, HOUR_TICKS);
        for (unsigned i = 0; i < p->ncomments; i++) {
            struct comment_plan *cm = &p->comments[i];
            bool last = i + 1 == p->ncomments;
            cm->text = last && closing ? closing[rng_below(r, (uint32_t)nclosing)]
                                       : PICK(r, COMMENTS_OPEN);
            cm->analyst = rng_permille(r, 850) ? by : 1 + rng_below(r, N_ANALYSTS);
            from += rng_range(r, MIN_TICKS, 6 * HOUR_TICKS);
            cm->at = from;
        }
        /* A resolving comment is written just before the incident is closed. */
        if (closing && p->comments[p->ncomments - 1].at < handled)
            p->comments[p->ncomments - 1].at = handled - rng_range(r, SEC_TICKS, 10 * SEC_TICKS);
        for (unsigned i = 1; i < p->ncomments; i++)
            if (p->comments[i].at <= p->comments[i - 1].at)
                p->comments[i].at = p->comments[i - 1].at + rng_range(r, SEC_TICKS, MIN_TICKS);
    }

    int64_t u = p->created;
    for (unsigned k = 0; k < p->nalerts; k++)
        if (p->alerts[k].updated > u)
            u = p->alerts[k].updated;
    if (p->status == STATUS_IN_PROGRESS && handled > u)
        u = handled;
    if (p->ncomments && p->comments[p->ncomments - 1].at > u)
        u = p->comments[p->ncomments - 1].at;
    p->updated = u + rng_range(r, 50 * MS_TICKS, 500 * MS_TICKS);
    if (p->status == STATUS_REDIRECTED) /* merged within seconds of its creation */
        p->updated = p->created + rng_range(r, SEC_TICKS, 90 * SEC_TICKS);
}

static void plan_extras(struct rng *r, struct incident_plan *p)
{
    p->air = false;
    p->air_state = NULL;
    /* Automated investigation covers Windows devices and mail, not macOS, Linux or identity. */
    bool eligible =
        (p->ndevices && PLATFORMS[p->devices[0].os].windows) || p->alerts[0].t->src == SRC_MDO;
    if (eligible && rng_permille(r, 500)) {
        p->air = true;
        static const char *const active[] = {"Running", "PendingApproval", "Benign",
                                             "SuccessfullyRemediated", "PartiallyInvestigated"};
        static const char *const resolved[] = {"SuccessfullyRemediated", "Benign",
                                               "TerminatedByUser"};
        p->air_state = p->status == STATUS_RESOLVED ? PICK(r, resolved) : PICK(r, active);
    }
    p->actor = NULL;
    for (unsigned k = 0; k < p->nalerts; k++)
        if (p->alerts[k].t->cat == CAT_RANSOMWARE && rng_permille(r, 300))
            p->actor = PICK(r, ACTORS);
    random_ip(r, p->ip);
    p->url = PICK(r, URLS);
    p->mail = rng_below(r, ARRAY_SIZE(MAILS));
    p->n = 40 + rng_below(r, 400);

    p->ntags = 0;
    bool pentest = p->det == DETERMINATION_SECURITY_TESTING;
    if (pentest)
        p->tags[p->ntags++] = "PenTest";
    if (p->status != STATUS_REDIRECTED && rng_permille(r, 150)) {
        unsigned want = p->ntags + 1 + rng_below(r, MAX_TAGS - p->ntags);
        while (p->ntags < want) {
            const char *t = PICK(r, INCIDENT_TAGS);
            bool dup = false;
            for (unsigned i = 0; i < p->ntags; i++)
                dup |= strcmp(p->tags[i], t) == 0;
            if (!dup)
                p->tags[p->ntags++] = t;
        }
    }
}

/* Moves every time of the incident back by delta. */
static void shift_times(struct incident_plan *p, int64_t delta)
{
    p->created -= delta;
    p->updated -= delta;
    for (unsigned k = 0; k < p->nalerts; k++) {
        struct alert_plan *a = &p->alerts[k];
        a->first -= delta;
        a->last -= delta;
        a->created -= delta;
        a->updated -= delta;
        if (a->resolved)
            a->resolved -= delta;
    }
    for (unsigned i = 0; i < p->ncomments; i++)
        p->comments[i].at -= delta;
}

/* Defender's incident naming (reference §4.6, CONTRACT §9). */
static void plan_name(struct incident_plan *p)
{
    bool distinct_titles = false, ransomware = false, all_av = true, multi_source = false;
    bool cats[CAT__COUNT] = {false};
    int devs[MAX_ALERTS], users[MAX_ALERTS];
    unsigned ndevs = 0, nusers = 0;
    for (unsigned k = 0; k < p->nalerts; k++) {
        const struct alert_plan *a = &p->alerts[k];
        distinct_titles |= strcmp(a->title, p->alerts[0].title) != 0;
        multi_source |= a->t->src != p->alerts[0].t->src;
        cats[a->t->cat] = true;
        ransomware |= a->t->cat == CAT_RANSOMWARE;
        all_av &= a->t->fam != FAM_NONE;
        if (a->dev >= 0) {
            bool seen = false;
            for (unsigned i = 0; i < ndevs; i++)
                seen |= devs[i] == a->dev;
            if (!seen)
                devs[ndevs++] = a->dev;
        }
        if (strpbrk(a->ents, "UM")) {
            bool seen = false;
            for (unsigned i = 0; i < nusers; i++)
                seen |= users[i] == a->user;
            if (!seen)
                users[nusers++] = a->user;
        }
    }

    size_t len = 0;
    char *out = p->name;
    size_t cap = sizeof(p->name);
    out[0] = '\0';
    if (!distinct_titles) {
        append(out, cap, &len, p->alerts[0].title, strlen(p->alerts[0].title));
    } else if (all_av) {
        static const char s[] = "Multiple threat families detected";
        append(out, cap, &len, s, sizeof(s) - 1);
    } else {
        unsigned ncats = 0;
        int only = -1;
        for (int c = 0; c < CAT__COUNT; c++)
            if (cats[c] && c != CAT_RANSOMWARE) {
                ncats++;
                only = c;
            }
        /* One category is not multi-stage: Defender says "<Category> incident"
         * (docs/internals/correlation.md, which ingestion follows too). */
        static const char s[] = "Multi-stage incident involving ";
        if (ncats == 1) {
            append(out, cap, &len, CATEGORIES[only].display, strlen(CATEGORIES[only].display));
            append(out, cap, &len, " incident", 9);
        } else {
            append(out, cap, &len, s, sizeof(s) - 1);
        }
        unsigned listed = ncats == 1 ? 2 : 0;
        for (int c = 0; c < CAT__COUNT && listed < 2; c++) {
            if (!cats[c] || c == CAT_RANSOMWARE) /* named by "including Ransomware" */
                continue;
            if (listed)
                append(out, cap, &len, " & ", 3);
            append(out, cap, &len, CATEGORIES[c].display, strlen(CATEGORIES[c].display));
            listed++;
        }
        if (!listed && ncats == 0)
            append(out, cap, &len, "Ransomware", 10);
    }
    if (distinct_titles && ransomware && !strstr(out, "Ransomware"))
        append(out, cap, &len, " including Ransomware", 21);
    const char *scope = ndevs == 1    ? " on one endpoint"
                        : ndevs > 1   ? " on multiple endpoints"
                        : nusers == 1 ? " involving one user"
                        : nusers > 1  ? " involving multiple users"
                                      : "";
    append(out, cap, &len, scope, strlen(scope));
    if (distinct_titles && multi_source) {
        static const char s[] = " reported by multiple sources";
        append(out, cap, &len, s, sizeof(s) - 1);
    }
}

static void plan_incident(uint64_t seed, int64_t id, struct incident_plan *p)
{
    memset(p, 0, sizeof(*p));
    p->seed = seed;
    p->id = id;
    p->status = status_of(seed, id);
    struct rng r = rng_for(seed, STREAM_INCIDENT, (uint64_t)id);
    plan_alerts(&r, p);
    plan_times(&r, p);
    plan_status(&r, p);
    plan_extras(&r, p);

    /* Nothing may happen after DEMO_EPOCH_TICKS: move late incidents back as a whole. The span
     * of one incident stays far below the 90-day window, so createdTime stays inside it. */
    int64_t limit = DEMO_EPOCH_TICKS - SEC_TICKS;
    if (p->updated > limit)
        shift_times(p, p->updated - limit + rng_range(&r, 0, 6 * HOUR_TICKS));

    p->sev = SEVERITY_UNSPECIFIED;
    for (unsigned k = 0; k < p->nalerts; k++)
        if (p->alerts[k].sev > p->sev)
            p->sev = p->alerts[k].sev;
    plan_name(p);

    p->redirect_to = 0;
    if (p->status == STATUS_REDIRECTED) {
        /* Merged into a nearby older incident that is not itself a stub (id 1 never is). */
        int64_t span = id - 1 < 500 ? id - 1 : 500;
        int64_t to = id - 1 - rng_range(&r, 0, span);
        while (to > 1 && status_of(seed, to) == STATUS_REDIRECTED)
            to--;
        p->redirect_to = to;
    }
}

/* ---- building JSON ------------------------------------------------------------------------ */

static void analyst_upn(unsigned n, char out[40])
{
    snprintf(out, 40, "analyst%u@" DOMAIN_UPN, n);
}

/* Risk the device carried when the alerts fired: its worst alert's severity. */
static const char *risk_score(const struct incident_plan *p, int dev)
{
    enum severity worst = SEVERITY_UNSPECIFIED;
    for (unsigned k = 0; k < p->nalerts; k++)
        if (p->alerts[k].dev == dev && p->alerts[k].sev > worst)
            worst = p->alerts[k].sev;
    return worst == SEVERITY_UNSPECIFIED ? "None" : severity_name(worst);
}

/* A device in the observed 2023 key order, nulls kept. */
static json_t *build_device(const struct incident_plan *p, int dev)
{
    const struct device *d = &p->devices[dev];
    json_t *o = json_object();
    put_str(o, "mdatpDeviceId", d->id);
    put_str(o, "aadDeviceId", d->aad_id[0] ? d->aad_id : NULL);
    put_str(o, "deviceDnsName", d->dns);
    put_str(o, "osPlatform", PLATFORMS[d->os].name);
    put_str(o, "version", PLATFORMS[d->os].version);
    put_str(o, "osProcessor", d->processor);
    put(o, "osBuild", PLATFORMS[d->os].build ? json_integer(PLATFORMS[d->os].build) : json_null());
    put_str(o, "healthStatus", d->health);
    put_str(o, "riskScore", risk_score(p, dev));
    put_str(o, "rbacGroupName", d->group);
    put_time(o, "firstSeen", d->first_seen);
    json_t *tags = json_array();
    if (d->tag)
        json_array_append_new(tags, json_string_nocheck(d->tag));
    put(o, "tags", tags);
    put_str(o, "defenderAvStatus", d->av);
    put_str(o, "onboardingStatus", "Onboarded");
    put(o, "vmMetadata", json_null());
    json_t *users = json_array();
    json_t *lu = json_object();
    put_str(lu, "accountName", d->logon_account);
    put_str(lu, "domainName", d->logon_domain);
    json_array_append_new(users, lu);
    put(o, "loggedOnUsers", users);
    return o;
}

/* sha1 and sha256 of a file: stable per name and tenant, like the same binary seen twice. */
static void file_hashes(const struct incident_plan *p, const char *name, char sha1[41],
                        char sha256[65])
{
    struct rng r = {mix64(p->seed) ^ hash_str(name)};
    hex_random(&r, 40, sha1);
    hex_random(&r, 64, sha256);
}

/* The common head of 2023+ evidence: entityType, evidenceCreationTime, verdict, remediation. */
static json_t *evidence(const char *type, const struct alert_plan *a, struct rng *r,
                        const char *verdict, const char *remediation)
{
    json_t *o = json_object();
    put_str(o, "entityType", type);
    put_time(o, "evidenceCreationTime",
             sql_time(a->created + rng_range(r, 100 * MS_TICKS, 900 * MS_TICKS)));
    put_str(o, "verdict", verdict);
    put_str(o, "remediationStatus", remediation);
    return o;
}

/* Evidence item `kind` (a letter of tpl.entities); `nth` counts earlier items of that kind. */
static json_t *build_entity(const struct incident_plan *p, const struct alert_plan *a,
                            struct rng *r, char kind, unsigned nth)
{
    const struct tpl *t = a->t;
    const struct user *u = &p->users[a->user];
    const struct device *d = a->dev >= 0 ? &p->devices[a->dev] : NULL;
    bool resolved = p->status == STATUS_RESOLVED;
    bool malicious = t->fam != FAM_NONE || t->cat == CAT_RANSOMWARE || t->src == SRC_MDO;
    char buf[512], sha1[41], sha256[65];
    json_t *o = NULL;

    switch (kind) {
    case 'U':
        o = evidence("User", a, r, "Suspicious", "None");
        put_str(o, "accountName", u->account);
        if (t->src == SRC_MDE || (t->src == SRC_MCAS && u->hybrid))
            put_str(o, "domainName", DOMAIN_NETBIOS);
        put_str(o, "userSid", t->src == SRC_MDE || u->hybrid ? u->sid : u->cloud_sid);
        if (t->src != SRC_MDE || u->hybrid) {
            put_str(o, "aadUserId", u->aad_id);
            put_str(o, "userPrincipalName", u->upn);
        }
        break;
    case 'I': {
        char ip[16];
        if (nth == 0 && t->proc != PROC_WMIC)
            snprintf(ip, sizeof(ip), "%s", p->ip);
        else if (t->proc == PROC_WMIC)
            snprintf(ip, sizeof(ip), "10.%u.%u.%u", rng_below(r, 8), rng_below(r, 256),
                     1 + rng_below(r, 254));
        else
            random_ip(r, ip);
        o = evidence("Ip", a, r,
                     t->src == SRC_MDE && t->proc == PROC_BROWSER ? "Malicious" : "Suspicious",
                     "None");
        put_str(o, "ipAddress", ip);
        break;
    }
    case 'L':
        o = evidence("Url", a, r, "Malicious", resolved ? "Remediated" : "None");
        put_str(o, "url", p->url);
        break;
    case 'F': {
        const char *name;
        char dir[160];
        const char *remediation = "None";
        if (a->fam && nth == 0)
            name = a->fam->file;
        else if (t->src == SRC_MDO)
            name = MAILS[p->mail].attachment;
        else if (t->cat == CAT_RANSOMWARE) {
            static const char *const docs[] = {"Q3 forecast.xlsx", "Board minutes.docx",
                                               "Payroll 2026.xlsx", "Contract_final.pdf"};
            name = docs[(nth + p->n) % ARRAY_SIZE(docs)];
        } else if (t->proc == PROC_PROCDUMP)
            name = "ls.dmp";
        else
            name = nth ? "ext_server_stdapi.jar" : "odupd.exe";
        expand(p, a, name, buf, sizeof(buf));
        if (d && d->os == OS_MACOS)
            snprintf(dir, sizeof(dir), "/Users/%.40s/Downloads", u->account);
        else if (d && !PLATFORMS[d->os].windows)
            snprintf(dir, sizeof(dir), "/tmp");
        else if (t->cat == CAT_RANSOMWARE && !a->fam)
            snprintf(dir, sizeof(dir), "C:\\Users\\%.40s\\Documents", u->account);
        else if (t->proc == PROC_PROCDUMP)
            snprintf(dir, sizeof(dir), "C:\\Windows\\Temp");
        else if (t->src == SRC_MDO || (a->fam && nth == 0))
            snprintf(dir, sizeof(dir), "C:\\Users\\%.40s\\Downloads", u->account);
        else
            snprintf(dir, sizeof(dir), "C:\\ProgramData");
        if (resolved && malicious)
            remediation = rng_permille(r, 900) ? "Remediated" : "NotFound";
        else if (t->fam == FAM_MALWARE && !t->prevented)
            remediation = "Active";
        file_hashes(p, buf, sha1, sha256);
        o = evidence("File", a, r, malicious ? "Malicious" : "Suspicious", remediation);
        put_str(o, "sha1", sha1);
        put_str(o, "sha256", sha256);
        put_str(o, "fileName", buf);
        if (t->src != SRC_MDO) {
            put_str(o, "filePath", dir);
            put_str(o, "detectionStatus", t->prevented ? "Prevented" : "Detected");
        }
        break;
    }
    case 'P': {
        enum proc pr = t->proc != PROC_NONE ? t->proc : PROC_DROPPED;
        char file[96], path[192];
        expand(p, a, PROCS[pr].file, file, sizeof(file));
        expand(p, a, PROCS[pr].path, path, sizeof(path));
        expand(p, a, PROCS[pr].cmdline, buf, sizeof(buf));
        file_hashes(p, file, sha1, sha256);
        int64_t started = a->first - rng_range(r, SEC_TICKS, 10 * MIN_TICKS);
        int64_t parent = started - rng_range(r, SEC_TICKS, 8 * HOUR_TICKS);
        o = evidence("Process", a, r, "Suspicious", "None");
        put_str(o, "sha1", sha1);
        put_str(o, "sha256", sha256);
        put_str(o, "fileName", file);
        put_str(o, "filePath", path);
        put_int(o, "processId", 4 * (int64_t)(250 + rng_below(r, 6000))); /* Windows: x4 */
        put_str(o, "processCommandLine", buf);
        put_time(o, "processCreationTime", started);
        put_int(o, "parentProcessId", 4 * (int64_t)(100 + rng_below(r, 3000)));
        put_time(o, "parentProcessCreationTime", parent);
        put_str(o, "parentProcessFileName", PROCS[pr].parent_file);
        put_str(o, "parentProcessFilePath", PROCS[pr].parent_path);
        put_str(o, "accountName", u->account);
        put_str(o, "domainName", DOMAIN_NETBIOS);
        put_str(o, "userSid", u->sid);
        put_str(o, "detectionStatus", "Detected");
        break;
    }
    case 'R':
        o = evidence("Registry", a, r, "Suspicious", resolved ? "Remediated" : "None");
        put_str(o, "registryHive", "HKEY_CURRENT_USER");
        put_str(o, "registryKey", "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run");
        put_str(o, "registryValueType", "String");
        put_str(o, "registryValue", "C:\\ProgramData\\odupd.exe");
        break;
    case 'M':
        o = evidence("Mailbox", a, r, "Suspicious", "None");
        put_str(o, "aadUserId", u->aad_id);
        put_str(o, "userPrincipalName", u->upn);
        put_str(o, "mailboxDisplayName", u->display);
        put_str(o, "mailboxAddress", u->upn);
        break;
    case 'E': {
        char mid[96], hex[17];
        bool zapped = strstr(t->title, "removed after delivery") != NULL;
        hex_random(r, 16, hex);
        snprintf(mid, sizeof(mid), "<%s@PH0PR11MB%04u.namprd11.prod.outlook.com>", hex,
                 1000 + rng_below(r, 9000));
        o = evidence("MailMessage", a, r, "Malicious", zapped || resolved ? "Remediated" : "None");
        put_str(o, "userPrincipalName", u->upn);
        put_str(o, "sender", MAILS[p->mail].sender);
        put_str(o, "recipient", u->upn);
        expand(p, a, MAILS[p->mail].subject, buf, sizeof(buf));
        put_str(o, "subject", buf);
        put_str(o, "deliveryAction", "Delivered");
        put_str(o, "internetMessageId", mid);
        break;
    }
    case 'C': {
        const char *by = CLUSTER_BY[(nth + p->mail) % ARRAY_SIZE(CLUSTER_BY)];
        const char *sender = strchr(MAILS[p->mail].sender, '@') + 1;
        char subject[128], value[256];
        expand(p, a, MAILS[p->mail].subject, subject, sizeof(subject));
        snprintf(value, sizeof(value), "%s;%s;Phish",
                 strncmp(by, "Subject", 7) == 0 ? subject : "7A3F19C2E4B8D605",
                 strstr(by, "SenderIp") ? p->ip : sender);
        o = evidence("MailCluster", a, r, "Malicious", resolved ? "Remediated" : "None");
        put_str(o, "clusterBy", by);
        put_str(o, "clusterByValue", value);
        put_int(o, "emailCount", 2 + rng_below(r, 60));
        break;
    }
    default:
        BUG("unknown entity kind '%c'", kind);
    }
    if (d && strchr("FPR", kind))
        put_str(o, "deviceId", d->id);
    return o;
}

/* alertId per source, unique within the set because each embeds a bijection of a->uniq. */
static void alert_ids(const struct incident_plan *p, const struct alert_plan *a, struct rng *r,
                      char id[80], char provider[80])
{
    struct rng kr = rng_for(p->seed, STREAM_ALERT_ID, 0);
    uint64_t key = rng_next(&kr);
    uint64_t h = mix64(a->uniq ^ key); /* bijective in uniq */
    const char *prefix = SOURCES[a->t->src].prefix;
    char body[72];
    switch (a->t->src) {
    case SRC_MDE:
        if (a->uniq < (1ULL << 32) && rng_below(r, 2)) {
            /* Classic form: .NET ticks of creation, then a signed 32-bit number. */
            uint32_t x = (uint32_t)a->uniq ^ (uint32_t)key;
            x ^= x >> 16; /* lowbias32, a bijection on 32 bits */
            x *= 0x7feb352dU;
            x ^= x >> 15;
            x *= 0x846ca68bU;
            x ^= x >> 16;
            snprintf(body, sizeof(body), "%" PRId64 "_%" PRId32,
                     (int64_t)(a->created + NET_TICKS_AT_UNIX_EPOCH), (int32_t)x);
        } else {
            guid_format(h, rng_next(r), false, body);
            memcpy(body + 36, "_1", 3);
        }
        break;
    case SRC_MCAS:
        guid_format(h, rng_next(r), true, body);
        break;
    case SRC_AAD:
        hex_digits(h, 16, false, body);
        hex_random(r, 24, body + 16);
        break;
    case SRC_MDO:
    case SRC__COUNT:
        guid_format(h, rng_next(r), false, body);
        break;
    }
    snprintf(id, 80, "%s%s", prefix, body);
    if (a->t->src == SRC_AAD) /* Identity Protection's own id is a separate 256-bit value */
        hex_random(r, 64, provider);
    else
        snprintf(provider, 80, "%s", body);
}

/* detectorId: the rule's name for Identity Protection, else a GUID stable per title. */
static void detector_id(const struct alert_plan *a, char out[37])
{
    if (a->t->detector) {
        snprintf(out, 37, "%s", a->t->detector);
        return;
    }
    uint64_t h = hash_str(a->title);
    guid_format((mix64(h) & ~0xF000ULL) | 0x4000ULL, (mix64(h + 1) & ~(3ULL << 62)) | (2ULL << 62),
                false, out);
}

static const char *alert_status(const struct incident_plan *p, const struct alert_plan *a)
{
    switch (p->status) {
    case STATUS_RESOLVED:
        return "Resolved";
    case STATUS_IN_PROGRESS:
        return "InProgress";
    case STATUS_ACTIVE:
    case STATUS_REDIRECTED:
    case STATUS__COUNT:
        break;
    }
    return a->t->src == SRC_MDO && p->air ? "InProgress" : "New";
}

/* An alert in reference §3.3 key order, every key present. */
static json_t *build_alert(const struct incident_plan *p, const struct alert_plan *a, struct rng *r)
{
    const struct tpl *t = a->t;
    char id[80], provider[80], detector[37], desc[1200], upn[40];
    alert_ids(p, a, r, id, provider);
    detector_id(a, detector);
    expand(p, a, t->description, desc, sizeof(desc));

    json_t *o = json_object();
    put_str(o, "alertId", id);
    put_str(o, "providerAlertId", provider);
    put_int(o, "incidentId", p->id);
    put_str(o, "serviceSource", SOURCES[t->src].name);
    put_time(o, "creationTime", a->created);
    put_time(o, "lastUpdatedTime", sql_time(a->updated));
    if (a->resolved)
        put_time(o, "resolvedTime", a->resolved);
    else
        put(o, "resolvedTime", json_null());
    put_time(o, "firstActivity", a->first);
    put_time(o, "lastActivity", a->last);
    put_str(o, "title", a->title);
    put(o, "description", json_string(desc)); /* checked: may hold U+200B and names */
    put_str(o, "category", CATEGORIES[t->cat].name);
    put_str(o, "status", alert_status(p, a));
    put_str(o, "severity", severity_name(a->sev));

    bool investigated = p->air && (t->src == SRC_MDE || t->src == SRC_MDO);
    if (investigated && t->src == SRC_MDE)
        put_int(o, "investigationId", 1000 + p->id % 100000);
    else
        put(o, "investigationId", json_null());
    const char *state = "UnsupportedAlertType";
    if (investigated)
        state = t->src == SRC_MDE              ? p->air_state
                : p->status == STATUS_RESOLVED ? "Benign"
                                               : "Queued";
    else if (a->dev >= 0 && !PLATFORMS[p->devices[a->dev].os].windows)
        state = "UnsupportedOs";
    put_str(o, "investigationState", state);

    bool classified = p->status == STATUS_RESOLVED && p->cls != CLASSIFICATION_UNKNOWN;
    put_str(o, "classification", classified ? classification_name(p->cls) : NULL);
    put_str(o, "determination", classified ? determination_name(p->det) : NULL);
    put_str(o, "detectionSource", t->detection);
    put_str(o, "detectorId", detector);
    if (p->assignee) {
        analyst_upn(p->assignee, upn);
        put_str(o, "assignedTo", upn);
    } else {
        put_str(o, "assignedTo", investigated && t->src == SRC_MDO ? "Automation" : NULL);
    }
    put_str(o, "actorName", t->cat == CAT_RANSOMWARE ? p->actor : NULL);
    put_str(o, "threatFamilyName", a->fam ? a->fam->name : t->threat);
    json_t *mitre = json_array();
    for (const char *m = t->mitre; *m;) {
        size_t n = strcspn(m, ",");
        json_array_append_new(mitre, json_stringn_nocheck(m, n));
        m += n + (m[n] == ',');
    }
    put(o, "mitreTechniques", mitre);

    json_t *devices = json_array();
    if (a->dev >= 0)
        json_array_append_new(devices, build_device(p, a->dev));
    put(o, "devices", devices);
    json_t *entities = json_array();
    unsigned seen[128] = {0};
    for (const char *e = a->ents; *e; e++)
        json_array_append_new(entities, build_entity(p, a, r, *e, seen[(unsigned char)*e]++));
    put(o, "entities", entities);
    return o;
}

json_t *demo_incident(uint64_t seed, int64_t incident_id)
{
    if (incident_id < 1)
        BUG("demo incident id %" PRId64 " < 1", incident_id);
    struct incident_plan *p = malloc(sizeof(*p));
    if (!p)
        BUG("out of memory");
    plan_incident(seed, incident_id, p);
    /* Entity details come from a stream of their own, so they never disturb the plan. */
    struct rng r = rng_for(seed, STREAM_INCIDENT, ~(uint64_t)incident_id);
    char upn[40];

    json_t *o = json_object();
    put_int(o, "incidentId", p->id);
    if (p->redirect_to)
        put_int(o, "redirectIncidentId", p->redirect_to);
    else
        put(o, "redirectIncidentId", json_null());
    put(o, "incidentName", json_string(p->name));
    put_time(o, "createdTime", sql_time(p->created));
    put_time(o, "lastUpdateTime", sql_time(p->updated));
    if (p->assignee) {
        analyst_upn(p->assignee, upn);
        put_str(o, "assignedTo", upn);
    } else {
        put(o, "assignedTo", json_null());
    }
    put_str(o, "classification", classification_name(p->cls));
    put_str(o, "determination", determination_name(p->det));
    put_str(o, "status", status_name(p->status));
    put_str(o, "severity",
            severity_name(p->status == STATUS_REDIRECTED ? SEVERITY_UNSPECIFIED : p->sev));
    json_t *tags = json_array();
    for (unsigned i = 0; i < p->ntags; i++)
        json_array_append_new(tags, json_string_nocheck(p->tags[i]));
    put(o, "tags", tags);
    json_t *comments = json_array();
    for (unsigned i = 0; i < p->ncomments; i++) {
        char text[160];
        expand(p, NULL, p->comments[i].text, text, sizeof(text));
        analyst_upn(p->comments[i].analyst, upn);
        json_t *c = json_object();
        put_str(c, "comment", text);
        put_str(c, "createdBy", upn);
        put_time(c, "createdTime", p->comments[i].at);
        json_array_append_new(comments, c);
    }
    put(o, "comments", comments);
    json_t *alerts = json_array();
    if (p->status != STATUS_REDIRECTED)
        for (unsigned k = 0; k < p->nalerts; k++)
            json_array_append_new(alerts, build_alert(p, &p->alerts[k], &r));
    put(o, "alerts", alerts);
    free(p);
    return o;
}
