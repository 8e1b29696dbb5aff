/* SPDX-License-Identifier: MIT */
/* Correlation rules without storage (CONTRACT §9, docs/internals/correlation.md): option parsing,
 * the keys of an alert (fallbacks, normalisation, dedupe, order), severity, incident names. */
#include "common.h"
#include "correlate.h"
#include "tests.h"
#include "xmalloc.h"

/* ---------------------------------------------------------------- builders */

/* A minimal canonical alert; NULL arguments become JSON null. */
static json_t *alert_new(const char *title, const char *category, const char *severity,
                         const char *source)
{
    json_t *a =
        json_pack("{s:s?, s:s?, s:s?, s:s?, s:[], s:[]}", "title", title, "category", category,
                  "severity", severity, "serviceSource", source, "devices", "entities");
    ck_assert_ptr_nonnull(a);
    return a;
}

static void add_device(json_t *a, const char *mdatp, const char *dns)
{
    json_array_append_new(json_object_get(a, "devices"),
                          json_pack("{s:s?, s:s?}", "mdatpDeviceId", mdatp, "deviceDnsName", dns));
}

/* Steals e. */
static void add_entity(json_t *a, json_t *e)
{
    ck_assert_ptr_nonnull(e);
    json_array_append_new(json_object_get(a, "entities"), e);
}

static json_t *user_entity(const char *aad, const char *sid, const char *upn, const char *domain,
                           const char *account)
{
    return json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "entityType", "User", "aadUserId", aad,
                     "userSid", sid, "userPrincipalName", upn, "domainName", domain, "accountName",
                     account);
}

/* The keys of an alert as "type=value|type=value", to compare whole results at once. */
static char *keys_str(json_t *a)
{
    struct corr_key *k = NULL;
    size_t n = corr_alert_keys(a, &k);
    ck_assert(n == 0 ? k == NULL : k != NULL);
    char *s = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *t = xasprintf("%s%s%s=%s", s, i ? "|" : "", corr_key_name(k[i].type), k[i].value);
        free(s);
        s = t;
    }
    corr_keys_free(k, n);
    return s;
}

#define CHECK_KEYS(alert, expected)       \
    do {                                  \
        char *got_ = keys_str(alert);     \
        ck_assert_str_eq(got_, expected); \
        free(got_);                       \
    } while (0)

/* Checks the name of an array of alerts, in the given order and reversed (names do not depend
 * on the order of the alerts), and that no name holds a double space. Steals alerts. */
static void check_name(json_t *alerts, const char *expected)
{
    char *got = corr_incident_name(alerts);
    ck_assert_str_eq(got, expected);
    ck_assert_ptr_null(strstr(got, "  "));
    free(got);
    json_t *rev = json_array();
    for (size_t i = json_array_size(alerts); i-- > 0;)
        json_array_append(rev, json_array_get(alerts, i));
    got = corr_incident_name(rev);
    ck_assert_str_eq(got, expected);
    free(got);
    json_decref(rev);
    json_decref(alerts);
}

/* An alert on one device (by id), with a category, for the naming tests. */
static json_t *on_device(const char *title, const char *category, const char *device)
{
    json_t *a = alert_new(title, category, "Low", "MicrosoftDefenderForEndpoint");
    add_device(a, device, "host.contoso.com");
    return a;
}

/* ---------------------------------------------------------------- options */

START_TEST(test_corr_options_defaults)
{
    struct corr_options o;
    memset(&o, 0xff, sizeof(o));
    corr_options_init(&o);
    ck_assert_uint_eq(o.keys, CORR_KEYS_DEFAULT);
    ck_assert(o.keys & (1u << CORR_DEVICE));
    ck_assert(o.keys & (1u << CORR_MAIL));
    ck_assert(!(o.keys & (1u << CORR_IP)));
    ck_assert(!(o.keys & (1u << CORR_URL)));
    ck_assert_int_eq(o.window, 24LL * 3600 * 10000000LL);
    ck_assert_int_eq(o.resolved, CORR_RESOLVED_NEW);
    ck_assert_uint_eq(CORR_KEYS_ALL, 0x7f);
}
END_TEST

START_TEST(test_corr_key_names)
{
    static const char *const names[] = {"device", "user", "mailbox", "file", "mail", "ip", "url"};
    for (int t = 0; t < CORR_KEY_TYPES; t++)
        ck_assert_str_eq(corr_key_name((enum corr_key_type)t), names[t]);
    ck_assert_str_eq(corr_key_name(CORR_KEY_TYPES), "unknown");
    ck_assert_str_eq(corr_key_name((enum corr_key_type) - 1), "unknown");
}
END_TEST

static unsigned keys_ok(const char *s)
{
    unsigned k = 0xdead;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(corr_keys_parse(s, &k, &ei) == ERR_OK, "%s: %s", s, ei.msg);
    return k;
}

/* Returns the error offset; checks the code, that the message holds `fragment` and that out
 * is untouched. */
static int keys_err(const char *s, const char *fragment)
{
    unsigned k = 0xdead;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(corr_keys_parse(s, &k, &ei) == ERR_INVALID, "%s accepted", s);
    ck_assert_uint_eq(k, 0xdead);
    ck_assert_msg(strstr(ei.msg, fragment), "'%s' lacks '%s'", ei.msg, fragment);
    return ei.offset;
}

START_TEST(test_corr_keys_parse)
{
    ck_assert_uint_eq(keys_ok("device, user,ip"),
                      (1u << CORR_DEVICE) | (1u << CORR_USER) | (1u << CORR_IP));
    ck_assert_uint_eq(keys_ok("device,user,mailbox,file,mail"), CORR_KEYS_DEFAULT);
    ck_assert_uint_eq(keys_ok("url,ip,mail,file,mailbox,user,device"), CORR_KEYS_ALL);
    ck_assert_uint_eq(keys_ok("DEVICE,Url"), (1u << CORR_DEVICE) | (1u << CORR_URL));
    ck_assert_uint_eq(keys_ok(" \tfile\t , mail "), (1u << CORR_FILE) | (1u << CORR_MAIL));
    ck_assert_uint_eq(keys_ok("user,user"), 1u << CORR_USER);
    ck_assert_uint_eq(keys_ok("mailbox"), 1u << CORR_MAILBOX);
    /* An empty list turns correlation off. */
    ck_assert_uint_eq(keys_ok(""), 0);
    ck_assert_uint_eq(keys_ok("   "), 0);
    ck_assert_uint_eq(keys_ok(NULL), 0);
}
END_TEST

START_TEST(test_corr_keys_parse_errors)
{
    ck_assert_int_eq(keys_err("device,foo", "unknown correlation key 'foo'"), 7);
    keys_err("device, host", "valid: device, user, mailbox, file, mail, ip, url");
    ck_assert_int_eq(keys_err("devices", "'devices'"), 0);
    ck_assert_int_eq(keys_err("dev ice", "'dev ice'"), 0);
    ck_assert_int_eq(keys_err("device,,user", "empty name"), 7);
    ck_assert_int_eq(keys_err("device,", "empty name"), 7);
    ck_assert_int_eq(keys_err(",device", "empty name"), 0);
    keys_err("device;user", "'device;user'");
    /* NULL info is allowed. */
    unsigned k = 0;
    ck_assert_int_eq(corr_keys_parse("nope", &k, NULL), ERR_INVALID);
}
END_TEST

static int64_t window_ok(const char *s)
{
    int64_t w = -1;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(corr_window_parse(s, &w, &ei) == ERR_OK, "%s: %s", s, ei.msg);
    return w;
}

static void window_err(const char *s, const char *fragment)
{
    int64_t w = -1;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(corr_window_parse(s, &w, &ei) == ERR_INVALID, "%s accepted", s);
    ck_assert_int_eq(w, -1);
    ck_assert_msg(strstr(ei.msg, fragment), "'%s' lacks '%s'", ei.msg, fragment);
}

START_TEST(test_corr_window_parse)
{
    const int64_t sec = TS_TICKS_PER_SEC;
    ck_assert_int_eq(window_ok("90m"), 5400 * sec);
    ck_assert_int_eq(window_ok("24h"), CORR_WINDOW_DEFAULT);
    ck_assert_int_eq(window_ok("0s"), 0);
    ck_assert_int_eq(window_ok("0d"), 0);
    ck_assert_int_eq(window_ok("45s"), 45 * sec);
    ck_assert_int_eq(window_ok("7d"), 7 * 86400 * sec);
    ck_assert_int_eq(window_ok("007h"), 7 * 3600 * sec);
    ck_assert_int_eq(window_ok(" 2h "), 2 * 3600 * sec);
    ck_assert_int_eq(window_ok("24H"), CORR_WINDOW_DEFAULT);
    ck_assert_int_eq(window_ok("365d"), 365LL * 86400 * sec);
    ck_assert_int_eq(window_ok("8760h"), 365LL * 86400 * sec);
    ck_assert_int_eq(window_ok("31536000s"), 365LL * 86400 * sec);
}
END_TEST

START_TEST(test_corr_window_parse_errors)
{
    window_err("366d", "at most 365d");
    window_err("8761h", "at most 365d");
    window_err("31536001s", "at most 365d");
    window_err("99999999999999999999999999d", "at most 365d");
    window_err("", "expected a whole number followed by s, m, h or d");
    window_err(NULL, "expected a whole number");
    window_err("h", "expected a whole number");
    window_err("24", "expected a whole number");
    window_err("-1h", "expected a whole number");
    window_err("+1h", "expected a whole number");
    window_err("1.5h", "expected a whole number");
    window_err("24hours", "expected a whole number");
    window_err("24 h", "expected a whole number");
    window_err("24x", "unknown unit 'x'");
    window_err("3w", "unknown unit 'w'");
}
END_TEST

START_TEST(test_corr_resolved_parse)
{
    enum corr_resolved_policy p = CORR_RESOLVED_REOPEN;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(corr_resolved_parse("new", &p, &ei), ERR_OK);
    ck_assert_int_eq(p, CORR_RESOLVED_NEW);
    ck_assert_int_eq(corr_resolved_parse("reopen", &p, &ei), ERR_OK);
    ck_assert_int_eq(p, CORR_RESOLVED_REOPEN);
    ck_assert_int_eq(corr_resolved_parse(" NEW ", &p, &ei), ERR_OK);
    ck_assert_int_eq(p, CORR_RESOLVED_NEW);
    ck_assert_int_eq(corr_resolved_parse("ReOpen", &p, &ei), ERR_OK);
    ck_assert_int_eq(p, CORR_RESOLVED_REOPEN);

    static const char *const bad[] = {"", "old", "reopened", "ne w", "new,reopen"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err_clear(&ei);
        ck_assert_int_eq(corr_resolved_parse(bad[i], &p, &ei), ERR_INVALID);
        ck_assert_int_eq(p, CORR_RESOLVED_REOPEN);
        ck_assert_msg(strstr(ei.msg, "expected 'new' or 'reopen'"), "%s", ei.msg);
    }
    ck_assert_int_eq(corr_resolved_parse(NULL, &p, NULL), ERR_INVALID);
}
END_TEST

/* ---------------------------------------------------------------- keys */

START_TEST(test_corr_keys_device)
{
    json_t *a = alert_new("t", NULL, NULL, NULL);
    add_device(a, "24C222B0B60FE148EEECE49AC83910CC6A7EF491", "USER5.contoso.com");
    add_device(a, NULL, "Host2.Contoso.COM");
    add_device(a, "", "host3.contoso.com");
    add_device(a, NULL, NULL);
    add_device(a, NULL, "");
    json_array_append_new(json_object_get(a, "devices"),
                          json_pack("{s:i, s:s}", "mdatpDeviceId", 7, "deviceDnsName", "h4"));
    json_array_append_new(json_object_get(a, "devices"), json_string("not a device"));
    json_array_append_new(json_object_get(a, "devices"), json_pack("{}"));
    CHECK_KEYS(a, "device=24c222b0b60fe148eeece49ac83910cc6a7ef491|device=host2.contoso.com|"
                  "device=host3.contoso.com|device=h4");
    json_decref(a);
}
END_TEST

START_TEST(test_corr_keys_user_fallbacks)
{
    json_t *a = alert_new("t", NULL, NULL, NULL);
    add_entity(a, user_entity("FC8F7484-F813", "S-1-5-21-1", "u1@contoso.com", "D", "a"));
    add_entity(a, user_entity(NULL, "S-1-5-21-2", "u2@contoso.com", "D", "a"));
    add_entity(a, user_entity("", "", "U3@Contoso.com", "D", "a"));
    add_entity(a, user_entity(NULL, NULL, NULL, "EUROPE.corp", "TestUser"));
    add_entity(a, user_entity(NULL, NULL, NULL, NULL, "Solo"));
    add_entity(a, user_entity(NULL, NULL, NULL, "", "Solo2"));
    add_entity(a, user_entity(NULL, NULL, NULL, "OnlyDomain", NULL));
    add_entity(a, user_entity(NULL, NULL, NULL, NULL, NULL));
    CHECK_KEYS(a, "user=fc8f7484-f813|user=s-1-5-21-2|user=u3@contoso.com|"
                  "user=europe.corp\\testuser|user=solo|user=solo2");
    json_decref(a);
}
END_TEST

START_TEST(test_corr_keys_user_entity_type)
{
    json_t *a = alert_new("t", NULL, NULL, NULL);
    /* entityType matches case-insensitively */
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "user", "aadUserId", "A1"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "USER", "userSid", "S2"));
    /* account fields on other entity types are not users */
    add_entity(a, json_pack("{s:s, s:s, s:s, s:s}", "entityType", "Process", "accountName", "p",
                            "aadUserId", "A3", "userSid", "S3"));
    add_entity(a, json_pack("{s:s}", "aadUserId", "A4"));
    add_entity(a, json_pack("{s:i, s:s}", "entityType", 1, "aadUserId", "A5"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Users", "aadUserId", "A6"));
    CHECK_KEYS(a, "user=a1|user=s2");
    json_decref(a);
}
END_TEST

START_TEST(test_corr_keys_mailbox_file)
{
    json_t *a = alert_new("t", NULL, NULL, NULL);
    add_entity(a, json_pack("{s:s, s:s, s:s}", "entityType", "MailBox", "mailboxAddress",
                            "Test.User4@Contoso.com", "userPrincipalName", "x@contoso.com"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Mailbox", "mailboxAddress", ""));
    /* mailboxAddress and hashes count on any entity type */
    add_entity(a, json_pack("{s:s, s:s, s:s}", "entityType", "User", "mailboxAddress",
                            "u@contoso.com", "aadUserId", "AAD"));
    add_entity(a, json_pack("{s:s, s:s, s:s}", "entityType", "File", "sha1", "5DE839", "sha256",
                            "ABCDEF"));
    add_entity(a, json_pack("{s:s, s:s, s:n}", "entityType", "File", "sha1", "5DE840", "sha256"));
    add_entity(a,
               json_pack("{s:s, s:s, s:s}", "entityType", "Process", "sha1", "99", "sha256", ""));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "File", "fileName", "a.dll"));
    CHECK_KEYS(a, "user=aad|mailbox=test.user4@contoso.com|mailbox=u@contoso.com|file=abcdef|"
                  "file=5de840|file=99");
    json_decref(a);
}
END_TEST

START_TEST(test_corr_keys_mail)
{
    json_t *a = alert_new("t", NULL, NULL, NULL);
    /* message ids keep their case (RFC 5322: opaque) */
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "MailMessage", "internetMessageId",
                            "<AbC.123@Mail.Contoso.com>"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "mailmessage", "internetMessageId",
                            "<abc.123@mail.contoso.com>"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "MailMessage", "subject", "no id"));
    add_entity(a, json_pack("{s:s, s:s, s:s}", "entityType", "MailCluster", "clusterBy",
                            "Subject;P2SenderDomain", "clusterByValue", "Hello;Contoso.com"));
    /* clusterBy alone names only the criteria, shared by unrelated clusters: no key */
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "MailCluster", "clusterBy",
                            "Subject;P2SenderDomain;ContentType"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "MailCluster", "clusterByValue", "v"));
    /* an internetMessageId on another type is not a mail key */
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Url", "internetMessageId", "<x@y>"));
    CHECK_KEYS(a, "mail=<AbC.123@Mail.Contoso.com>|mail=<abc.123@mail.contoso.com>|"
                  "mail=Subject;P2SenderDomain=Hello;Contoso.com");
    json_decref(a);
}
END_TEST

START_TEST(test_corr_keys_ip_url)
{
    json_t *a = alert_new("t", NULL, NULL, NULL);
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Ip", "ipAddress", "62.216.203.204"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "IP", "ipAddress", "2001:DB8::1"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "User", "ipAddress", "10.0.0.1"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Url", "url", "down.ESALES360.cn"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Url", "url",
                            "HTTPS://Bob:PassWord@Example.COM:8443/Path/File?Q=A#Frag"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "url", "url", "Evil.Example/A/B"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Url", "url", "http://X.example?Q"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "File", "url", "http://ignored"));
    CHECK_KEYS(a, "ip=62.216.203.204|ip=2001:db8::1|url=down.esales360.cn|"
                  "url=https://Bob:PassWord@example.com:8443/Path/File?Q=A#Frag|"
                  "url=evil.example/A/B|url=http://x.example?Q");
    json_decref(a);
}
END_TEST

START_TEST(test_corr_keys_dedupe_and_order)
{
    json_t *a = alert_new("t", NULL, NULL, NULL);
    /* entities in mixed type order: output is by type, then first appearance */
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Ip", "ipAddress", "10.0.0.2"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "File", "sha256", "BB"));
    add_entity(a, user_entity("zed", NULL, NULL, NULL, NULL));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "File", "sha256", "aa"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Ip", "ipAddress", "10.0.0.1"));
    add_entity(a, user_entity("ALPHA", NULL, NULL, NULL, NULL));
    add_entity(a, user_entity("Zed", NULL, NULL, NULL, NULL));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "File", "sha1", "bb"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Ip", "ipAddress", "10.0.0.2"));
    add_device(a, "DEV2", NULL);
    add_device(a, "dev1", NULL);
    add_device(a, "dev2", "other");
    /* the same value under two types is two keys */
    add_entity(a, json_pack("{s:s, s:s, s:s}", "entityType", "User", "userPrincipalName",
                            "m@contoso.com", "mailboxAddress", "M@contoso.com"));
    CHECK_KEYS(a, "device=dev2|device=dev1|user=zed|user=alpha|user=m@contoso.com|"
                  "mailbox=m@contoso.com|file=bb|file=aa|ip=10.0.0.2|ip=10.0.0.1");
    json_decref(a);
}
END_TEST

START_TEST(test_corr_keys_none)
{
    json_t *a = alert_new("t", NULL, NULL, NULL);
    struct corr_key *k = (struct corr_key *)&k;
    ck_assert_uint_eq(corr_alert_keys(a, &k), 0);
    ck_assert_ptr_null(k);
    corr_keys_free(k, 0);
    json_decref(a);

    /* devices/entities missing or of the wrong type */
    a = json_pack("{s:s, s:s, s:{}}", "alertId", "x", "devices", "nope", "entities");
    CHECK_KEYS(a, "");
    json_decref(a);
    a = json_pack("{s:s}", "alertId", "x");
    CHECK_KEYS(a, "");
    json_decref(a);
    a = json_null();
    CHECK_KEYS(a, "");
    json_decref(a);
}
END_TEST

START_TEST(test_corr_keys_many_entities)
{
    /* Thousands of entities with few distinct values: deduplicated, first appearance kept. */
    json_t *a = alert_new("t", NULL, NULL, NULL);
    for (int i = 0; i < 20000; i++) {
        char v[16];
        snprintf(v, sizeof(v), "H%d", 9 - i % 10);
        add_entity(a, json_pack("{s:s, s:s}", "entityType", "File", "sha256", v));
    }
    struct corr_key *k;
    size_t n = corr_alert_keys(a, &k);
    ck_assert_uint_eq(n, 10);
    for (size_t i = 0; i < n; i++) {
        char v[16];
        snprintf(v, sizeof(v), "h%d", (int)(9 - i));
        ck_assert_int_eq(k[i].type, CORR_FILE);
        ck_assert_str_eq(k[i].value, v);
    }
    corr_keys_free(k, n);
    json_decref(a);
}
END_TEST

START_TEST(test_corr_keys_reference_example)
{
    /* The OfficeATP alert of the Defender documentation's list example (reference §4.6). */
    json_t *a = alert_new("Email reported by user as malware or phish", "InitialAccess",
                          "Informational", "OfficeATP");
    add_entity(a, json_pack("{s:s, s:s, s:s}", "entityType", "MailBox", "userPrincipalName",
                            "testUser3@contoso.com", "mailboxAddress", "testUser3@contoso.com"));
    add_entity(a, json_pack("{s:s, s:s, s:s}", "entityType", "MailBox", "userPrincipalName",
                            "testUser4@contoso.com", "mailboxAddress", "test.User4@contoso.com"));
    add_entity(a, json_pack("{s:s, s:s, s:s}", "entityType", "MailMessage", "sender",
                            "user.abc@mail.contoso.co.in", "subject", "[EXTERNAL] Attention"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "MailCluster", "clusterBy",
                            "Subject;P2SenderDomain;ContentType"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Ip", "ipAddress", "49.50.81.121"));
    CHECK_KEYS(a, "mailbox=testuser3@contoso.com|mailbox=test.user4@contoso.com|"
                  "ip=49.50.81.121");
    json_decref(a);
}
END_TEST

/* ---------------------------------------------------------------- severity */

START_TEST(test_corr_severity)
{
    json_t *alerts = json_array();
    ck_assert_int_eq(corr_incident_severity(alerts), SEVERITY_UNSPECIFIED);
    json_array_append_new(alerts, alert_new("a", NULL, NULL, NULL));
    ck_assert_int_eq(corr_incident_severity(alerts), SEVERITY_UNSPECIFIED);
    json_array_append_new(alerts, alert_new("a", NULL, "Informational", NULL));
    ck_assert_int_eq(corr_incident_severity(alerts), SEVERITY_INFORMATIONAL);
    json_array_append_new(alerts, alert_new("a", NULL, "medium", NULL));
    ck_assert_int_eq(corr_incident_severity(alerts), SEVERITY_MEDIUM);
    json_array_append_new(alerts, alert_new("a", NULL, "Low", NULL));
    json_array_append_new(alerts, alert_new("a", NULL, "Critical", NULL));
    ck_assert_int_eq(corr_incident_severity(alerts), SEVERITY_MEDIUM);
    json_array_append_new(alerts, alert_new("a", NULL, "HIGH", NULL));
    json_array_append_new(alerts, alert_new("a", NULL, "UnSpecified", NULL));
    ck_assert_int_eq(corr_incident_severity(alerts), SEVERITY_HIGH);
    json_decref(alerts);

    json_t *one = json_pack("[{s:i}]", "severity", 4);
    ck_assert_int_eq(corr_incident_severity(one), SEVERITY_UNSPECIFIED);
    json_decref(one);
    ck_assert_int_eq(corr_incident_severity(NULL), SEVERITY_UNSPECIFIED);
}
END_TEST

/* ---------------------------------------------------------------- names */

START_TEST(test_corr_name_empty)
{
    check_name(json_array(), "");
    char *s = corr_incident_name(NULL);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

START_TEST(test_corr_name_single_alert)
{
    json_t *a =
        alert_new("'Mimikatz' hacktool was detected", "Malware", "Low", "MicrosoftDefenderATP");
    add_device(a, "24c222b0b60fe148eeece49ac83910cc6a7ef491", "user5cx.contoso.com");
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "File", "sha1", "5de8"));
    check_name(json_pack("[o]", a), "'Mimikatz' hacktool was detected on one endpoint");

    a = alert_new("Impossible travel activity", "InitialAccess", "Medium", "AADIdentityProtection");
    add_entity(a, user_entity("fc8f", NULL, NULL, NULL, NULL));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Ip", "ipAddress", "1.2.3.4"));
    check_name(json_pack("[o]", a), "Impossible travel activity involving one user");

    /* no device, user or mailbox: no scope */
    a = alert_new("Ransomware activity", "Impact", "Medium", "MicrosoftCloudAppSecurity");
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Ip", "ipAddress", "1.2.3.4"));
    check_name(json_pack("[o]", a), "Ransomware activity");

    /* a blank title falls back to the category, then to "Incident" */
    a = alert_new("  ", "UnwantedSoftware", "Low", NULL);
    add_device(a, "d1", NULL);
    check_name(json_pack("[o]", a), "Unwanted software incident on one endpoint");
    a = alert_new(NULL, NULL, "Low", NULL);
    check_name(json_pack("[o]", a), "Incident");
}
END_TEST

START_TEST(test_corr_name_title_whitespace)
{
    /* titles are trimmed and inner runs collapsed, so no name holds a double space; titles
     * that differ only in whitespace are the same title */
    json_t *a = on_device("  Suspicious \t PowerShell\ncommand  ", "Execution", "d1");
    json_t *b = on_device("Suspicious PowerShell command", "Execution", "d1");
    check_name(json_pack("[o]", json_incref(a)), "Suspicious PowerShell command on one endpoint");
    check_name(json_pack("[oo]", a, b), "Suspicious PowerShell command on one endpoint");
    /* titles are case-sensitive */
    a = on_device("Suspicious activity", "Execution", "d1");
    b = on_device("suspicious activity", "Execution", "d1");
    check_name(json_pack("[oo]", a, b), "Execution incident on one endpoint");
}
END_TEST

START_TEST(test_corr_name_shared_title)
{
    json_t *a = on_device("Suspicious PowerShell command", "Execution", "d1");
    json_t *b = on_device("Suspicious PowerShell command", "DefenseEvasion", "d2");
    check_name(json_pack("[oo]", a, b), "Suspicious PowerShell command on multiple endpoints");

    /* device keys compare after normalisation: one endpoint */
    a = on_device("Suspicious PowerShell command", "Execution", "D1");
    b = on_device("Suspicious PowerShell command", "Execution", "d1");
    check_name(json_pack("[oo]", a, b), "Suspicious PowerShell command on one endpoint");
}
END_TEST

START_TEST(test_corr_name_single_category)
{
    json_t *a = alert_new("Impossible travel", "InitialAccess", "Medium", "AADIdentityProtection");
    add_entity(a, user_entity("u1", NULL, NULL, NULL, NULL));
    json_t *b = alert_new("Unfamiliar sign-in", "initialaccess", "Low", "AADIdentityProtection");
    add_entity(b, user_entity(NULL, NULL, "u1@contoso.com", NULL, NULL));
    check_name(json_pack("[oo]", a, b), "Initial access incident involving multiple users");

    a = alert_new("Impossible travel", "InitialAccess", "Medium", "AADIdentityProtection");
    add_entity(a, user_entity("u1", NULL, NULL, NULL, NULL));
    b = alert_new("Unfamiliar sign-in", "INITIALACCESS", "Low", "aadidentityprotection");
    add_entity(b, user_entity("U1", NULL, NULL, NULL, NULL));
    check_name(json_pack("[oo]", a, b), "Initial access incident involving one user");

    /* null and missing categories are ignored */
    a = on_device("A", "CommandAndControl", "d1");
    b = on_device("B", NULL, "d1");
    json_t *c = on_device("C", "", "d1");
    check_name(json_pack("[ooo]", a, b, c), "Command and control incident on one endpoint");

    /* a category outside the kill chain is split into words */
    a = on_device("A", "SuspiciousActivity", "d1");
    b = on_device("B", "suspiciousactivity", "d1");
    check_name(json_pack("[oo]", a, b), "Suspicious activity incident on one endpoint");
}
END_TEST

START_TEST(test_corr_name_no_category)
{
    json_t *a = on_device("A", NULL, "d1");
    json_t *b = on_device("B", NULL, "d2");
    check_name(json_pack("[oo]", a, b), "Incident on multiple endpoints");
    a = alert_new("A", NULL, "Low", NULL);
    b = alert_new("B", NULL, "Low", NULL);
    check_name(json_pack("[oo]", a, b), "Incident");
    /* categories without a letter or digit count as none, not as a blank name part */
    a = on_device("A", "  ", "d1");
    b = on_device("B", "__", "d1");
    check_name(json_pack("[oo]", a, b), "Incident on one endpoint");
    a = on_device("A", "  ", "d1");
    b = on_device("B", "Execution", "d1");
    check_name(json_pack("[oo]", a, b), "Execution incident on one endpoint");
}
END_TEST

START_TEST(test_corr_name_multi_stage)
{
    json_t *a = on_device("Suspicious process", "Execution", "d1");
    json_t *b = on_device("Phishing link clicked", "InitialAccess", "d1");
    check_name(json_pack("[oo]", a, b),
               "Multi-stage incident involving Initial access & Execution on one endpoint");

    /* more than two: all joined with " &", kill chain first, then others alphabetically */
    a = on_device("A", "Malware", "d1");
    b = on_device("B", "CommandAndControl", "d2");
    json_t *c = on_device("C", "SuspiciousActivity", "d1");
    json_t *d = on_device("D", "execution", "d1");
    json_t *e = on_device("E", "Exploit", "d1");
    json_t *f = on_device("F", "malware", "d1");
    check_name(json_pack("[oooooo]", a, b, c, d, e, f),
               "Multi-stage incident involving Execution & Command and control & Exploit & "
               "Malware & Suspicious activity on multiple endpoints");
}
END_TEST

START_TEST(test_corr_name_kill_chain_order)
{
    static const char *const shuffled[] = {
        "Impact",
        "Discovery",
        "InitialAccess",
        "Exfiltration",
        "DefenseEvasion",
        "Collection",
        "Persistence",
        "CommandAndControl",
        "LateralMovement",
        "Execution",
        "Reconnaissance",
        "CredentialAccess",
        "PrivilegeEscalation",
        "ResourceDevelopment",
        "Ransomware",
        "UnwantedSoftware",
        "CredentialTheft",
        "Zeta",
        "alpha",
    };
    json_t *alerts = json_array();
    for (size_t i = 0; i < ARRAY_SIZE(shuffled); i++) {
        char title[8];
        snprintf(title, sizeof(title), "t%zu", i);
        json_t *a = alert_new(title, shuffled[i], "Low", NULL);
        add_entity(a, json_pack("{s:s, s:s}", "entityType", "Mailbox", "mailboxAddress",
                                i % 2 ? "a@contoso.com" : "b@contoso.com"));
        json_array_append_new(alerts, a);
    }
    check_name(alerts, "Multi-stage incident involving Reconnaissance & Resource development & "
                       "Initial access & Execution & Persistence & Privilege escalation & "
                       "Defense evasion & Credential access & Discovery & Lateral movement & "
                       "Collection & Command and control & Exfiltration & Impact & Alpha & "
                       "Credential theft & Ransomware & Unwanted software & Zeta involving "
                       "multiple mailboxes");
}
END_TEST

START_TEST(test_corr_name_category_display)
{
    json_t *a = on_device("A", "DLPViolation", "d1");
    check_name(json_pack("[o]", json_incref(a)), "A on one endpoint");
    json_t *b = on_device("B", "DLPViolation", "d1");
    check_name(json_pack("[oo]", a, b), "DLP violation incident on one endpoint");

    a = on_device("A", "Credential_Theft", "d1");
    b = on_device("B", "suspicious Network  traffic", "d1");
    check_name(json_pack("[oo]", a, b),
               "Multi-stage incident involving Credential theft & Suspicious network traffic on "
               "one endpoint");

    a = on_device("A", "Top10Threat", "d1");
    b = on_device("B", "SHA1Match", "d1");
    check_name(json_pack("[oo]", a, b),
               "Multi-stage incident involving SHA1 match & Top10 threat on one endpoint");
}
END_TEST

START_TEST(test_corr_name_scopes)
{
    /* devices take precedence over users and mailboxes */
    json_t *a = on_device("A", "Execution", "d1");
    add_entity(a, user_entity("u1", NULL, NULL, NULL, NULL));
    json_t *b = alert_new("A", "Execution", "Low", "MicrosoftDefenderForEndpoint");
    add_entity(b, user_entity("u2", NULL, NULL, NULL, NULL));
    check_name(json_pack("[oo]", a, b), "A on one endpoint");

    /* a device known by id in one alert and by name in another counts twice */
    a = alert_new("A", NULL, NULL, NULL);
    add_device(a, "id1", "host1");
    b = alert_new("A", NULL, NULL, NULL);
    add_device(b, NULL, "host1");
    check_name(json_pack("[oo]", a, b), "A on multiple endpoints");

    /* users, when no alert has a device */
    a = alert_new("A", NULL, NULL, NULL);
    add_entity(a, user_entity(NULL, NULL, NULL, "CONTOSO", "alice"));
    add_entity(a, user_entity(NULL, NULL, NULL, "contoso", "ALICE"));
    check_name(json_pack("[o]", a), "A involving one user");
    a = alert_new("A", NULL, NULL, NULL);
    add_entity(a, user_entity(NULL, NULL, NULL, "contoso", "alice"));
    add_entity(a, user_entity(NULL, NULL, NULL, "contoso", "bob"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Mailbox", "mailboxAddress", "m@x"));
    check_name(json_pack("[o]", a), "A involving multiple users");

    /* mailboxes, when there is no device and no user */
    a = alert_new("Email reported by user as malware or phish", "InitialAccess", NULL, NULL);
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "MailBox", "mailboxAddress", "A@x.com"));
    b = alert_new("Email reported by user as malware or phish", "InitialAccess", NULL, NULL);
    add_entity(b, json_pack("{s:s, s:s}", "entityType", "MailBox", "mailboxAddress", "a@X.com"));
    check_name(json_pack("[oo]", a, b), "Email reported by user as malware or phish involving "
                                        "one mailbox");
    a = alert_new("Phish", NULL, NULL, NULL);
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "MailBox", "mailboxAddress", "a@x.com"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "MailBox", "mailboxAddress", "b@x.com"));
    check_name(json_pack("[o]", a), "Phish involving multiple mailboxes");

    /* files, IPs, URLs and mail keys give no scope */
    a = alert_new("A", NULL, NULL, NULL);
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "File", "sha256", "aa"));
    add_entity(a, json_pack("{s:s, s:s}", "entityType", "Url", "url", "x.example"));
    check_name(json_pack("[o]", a), "A");
}
END_TEST

START_TEST(test_corr_name_multiple_sources)
{
    json_t *a = on_device("A", "Execution", "d1");
    json_t *b = alert_new("B", "InitialAccess", "Low", "MicrosoftDefenderForOffice365");
    add_entity(b, user_entity("u1", NULL, NULL, NULL, NULL));
    check_name(json_pack("[oo]", a, b), "Multi-stage incident involving Initial access & "
                                        "Execution on one endpoint reported by multiple sources");

    a = on_device("Same", "Execution", "d1");
    b = alert_new("Same", "Execution", "Low", "MicrosoftCloudAppSecurity");
    check_name(json_pack("[oo]", a, b), "Same on one endpoint reported by multiple sources");

    a = alert_new("A", "Execution", "Low", "OfficeATP");
    b = alert_new("B", "Execution", "Low", "MicrosoftCloudAppSecurity");
    check_name(json_pack("[oo]", a, b), "Execution incident reported by multiple sources");

    /* null and empty sources are ignored; sources compare case-insensitively */
    a = alert_new("A", "Execution", "Low", "OfficeATP");
    b = alert_new("B", "Execution", "Low", NULL);
    json_t *c = alert_new("C", "Execution", "Low", "officeatp");
    json_t *d = alert_new("D", "Execution", "Low", "");
    check_name(json_pack("[oooo]", a, b, c, d), "Execution incident");
}
END_TEST

Suite *correlate_suite(void)
{
    Suite *s = suite_create("correlate");
    TCase *tc = tcase_create("options");
    tcase_add_test(tc, test_corr_options_defaults);
    tcase_add_test(tc, test_corr_key_names);
    tcase_add_test(tc, test_corr_keys_parse);
    tcase_add_test(tc, test_corr_keys_parse_errors);
    tcase_add_test(tc, test_corr_window_parse);
    tcase_add_test(tc, test_corr_window_parse_errors);
    tcase_add_test(tc, test_corr_resolved_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_add_test(tc, test_corr_keys_device);
    tcase_add_test(tc, test_corr_keys_user_fallbacks);
    tcase_add_test(tc, test_corr_keys_user_entity_type);
    tcase_add_test(tc, test_corr_keys_mailbox_file);
    tcase_add_test(tc, test_corr_keys_mail);
    tcase_add_test(tc, test_corr_keys_ip_url);
    tcase_add_test(tc, test_corr_keys_dedupe_and_order);
    tcase_add_test(tc, test_corr_keys_none);
    tcase_add_test(tc, test_corr_keys_many_entities);
    tcase_add_test(tc, test_corr_keys_reference_example);
    suite_add_tcase(s, tc);

    tc = tcase_create("derived");
    tcase_add_test(tc, test_corr_severity);
    tcase_add_test(tc, test_corr_name_empty);
    tcase_add_test(tc, test_corr_name_single_alert);
    tcase_add_test(tc, test_corr_name_title_whitespace);
    tcase_add_test(tc, test_corr_name_shared_title);
    tcase_add_test(tc, test_corr_name_single_category);
    tcase_add_test(tc, test_corr_name_no_category);
    tcase_add_test(tc, test_corr_name_multi_stage);
    tcase_add_test(tc, test_corr_name_kill_chain_order);
    tcase_add_test(tc, test_corr_name_category_display);
    tcase_add_test(tc, test_corr_name_scopes);
    tcase_add_test(tc, test_corr_name_multiple_sources);
    suite_add_tcase(s, tc);
    return s;
}
