-- wrk script for the ingestion benchmark (issue 5, point 9; bench/ingest.sh runs it).
-- Every request is POST /api/alerts with {"value":[...]} of BENCH_BATCH (default 100) alerts.
--
-- Each alert is a pure function of its sequence number s, so runs are reproducible and an alert
-- can be sent again byte for byte. Request n of wrk thread t (t = 0..T-1, T = BENCH_THREADS,
-- which must equal wrk's -t) is batch b = n*T + t and carries alerts b*BATCH .. b*BATCH+BATCH-1.
--
-- The stream models a tenant of BENCH_DEVICES devices (default 10,000) and BENCH_USERS users
-- (default 5,000); the first entries of both pools are the demo data's own devices and users
-- ($BENCH_POOL_DEVICES, $BENCH_POOL_USERS, tab-separated, written by ingest.sh), so those alerts
-- correlate with the stored incidents. Device d's usual user is user d mod U, so alerts carrying
-- both link a device to its user and, through the user, to the user's other device: incidents
-- join and now and then merge, as a real tenant's do.
--   * activity times follow a simulated clock: BENCH_START (default 2026-10-31T00:00:00Z, the
--     last day of the demo data, whose incidents lie in the 90 days before 2026-11-01) plus
--     BENCH_STEP seconds (default 1) per alert, minus up to BENCH_JITTER seconds (default 600:
--     detection delays differ, so alerts arrive out of activity order): 86,400 alerts a
--     simulated day, each device one alert every ~2.8 h, so most alerts fall inside the 24 h
--     window of an earlier alert of their device or user;
--   * 65% endpoint alerts (MDE): one device; a User entity (the device's user) in 60%; a File
--     with its own hashes; a Process in 40%; an Ip in 30%. One in 1,000 carries instead the
--     file of a "campaign" shared by ~10 alerts on unrelated devices (campaign = s div 10,000);
--   * 20% identity alerts (Entra ID Protection, Defender for Cloud Apps): a User, an Ip;
--   * 15% mail alerts (MDO): Mailbox + MailMessage (own internetMessageId), a User in half, and
--     in 2% a MailCluster whose value is shared per campaign (s div 20,000);
--   * in odd blocks of 5,000 sequence numbers, 1% of the slots send alert s-5,000 again unchanged
--     (result "unchanged") and 0.5% send it with status InProgress and a later lastUpdatedTime
--     ("updated"), as connectors that re-send do. s-5,000 belongs to the same wrk thread when T
--     divides 50, so it was answered before.
-- Alerts are ~2 KB, as the demo data's. The JSON is assembled from strings precomputed per
-- device, user and catalogue entry, so the generator costs wrk a few µs per alert, not the
-- server's CPU. response() counts the results; done() prints them with the failed batches.

local BATCH = tonumber(os.getenv("BENCH_BATCH") or "100")
local NDEV = tonumber(os.getenv("BENCH_DEVICES") or "10000")
local NUSR = tonumber(os.getenv("BENCH_USERS") or "5000")
local STEP = tonumber(os.getenv("BENCH_STEP") or "1")
local JITTER = tonumber(os.getenv("BENCH_JITTER") or "600")
local START = os.getenv("BENCH_START") or "2026-10-31T00:00:00Z"
local NTHR = tonumber(os.getenv("BENCH_THREADS") or "1")
local RESEND_DIST = 5000

local bit = require("bit")
local bxor, rshift, lshift, tobit, tohex = bit.bxor, bit.rshift, bit.lshift, bit.tobit, bit.tohex
local fmt, concat, floor = string.format, table.concat, math.floor

-- ---- thread bookkeeping (setup runs in wrk's main Lua state) -------------------------------

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

-- ---- deterministic PRNG: xorshift32 from a mixed seed ---------------------------------------

local rs = 1
local function mix(x)
  x = tobit(x)
  x = bxor(x, rshift(x, 16)); x = tobit(x * 0x45d9f3b)
  x = bxor(x, rshift(x, 16)); x = tobit(x * 0x45d9f3b)
  x = bxor(x, rshift(x, 16))
  if x == 0 then x = 0x1234567 end
  return x
end
local function seed(s, salt) -- s < 2^31
  rs = mix(mix(s + salt * 7919) + salt)
end
local function rnd() -- uniform 32-bit value as a non-negative number
  local x = rs
  x = bxor(x, lshift(x, 13)); x = bxor(x, rshift(x, 17)); x = bxor(x, lshift(x, 5))
  rs = x
  return x % 4294967296
end
local function below(n) return floor(rnd() / 4294967296 * n) end
local function hex8() return tohex(rnd(), 8) end
local function guid()
  local h = hex8() .. hex8() .. hex8() .. hex8()
  return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-4" .. h:sub(14, 16) .. "-a" .. h:sub(18, 20) ..
    "-" .. h:sub(21, 32)
end

-- ---- time: ticks are 100 ns since the Unix epoch, as in the server --------------------------

local function days_from_civil(y, m, d) -- Howard Hinnant's algorithms
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  return era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy - 719468
end
local function civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, doy - floor((153 * mp + 2) / 5) + 1
end
local T0 = (function(s) -- seconds since the epoch
  local y, mo, d, h, mi, se = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  assert(y, "BENCH_START: expected YYYY-MM-DDThh:mm:ssZ")
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 + h * 3600 + mi * 60 + se
end)(START)

local hour_prefix = {} -- hours since the epoch → "YYYY-MM-DDThh:"
-- sec: whole seconds since the epoch; frac: 0..9,999,999 ticks
local function ts(sec, frac)
  local hour = floor(sec / 3600)
  local p = hour_prefix[hour]
  if not p then
    p = fmt("%04d-%02d-%02dT", civil_from_days(floor(hour / 24))) .. fmt("%02d:", hour % 24)
    hour_prefix[hour] = p
  end
  local r = sec - hour * 3600
  return p .. fmt("%02d:%02d.%07dZ", floor(r / 60), r % 60, frac)
end

-- ---- pools ----------------------------------------------------------------------------------

local function split_tabs(line)
  local f = {}
  for v in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = v end
  return f
end
local function opt(v) -- a JSON string, or null for an empty pool field
  return v == "" and "null" or ('"' .. v .. '"')
end

-- Per user: the User entity after its evidenceCreationTime; the Mailbox entity after it.
local U_USER, U_MAILBOX, U_UPN, U_ACCOUNT = {}, {}, {}, {}
-- Per device: the whole device object (with its usual user logged on); the File and Process
-- entities' tails (file path under the user's profile, deviceId).
local D_JSON, D_FILE_TAIL, D_PROC_TAIL = {}, {}, {}

local function add_user(account, domain, sid, aad, upn)
  U_USER[#U_USER + 1] = '","verdict":"Suspicious","remediationStatus":"None","accountName":"' ..
    account .. '","domainName":"' .. domain .. '","userSid":"' .. sid .. '","aadUserId":"' ..
    aad .. '","userPrincipalName":"' .. upn .. '"}'
  U_MAILBOX[#U_MAILBOX + 1] = '","verdict":"Suspicious","remediationStatus":"None",' ..
    '"userPrincipalName":"' .. upn .. '","mailboxDisplayName":"' .. account ..
    '","mailboxAddress":"' .. upn .. '","aadUserId":"' .. aad .. '"}'
  U_UPN[#U_UPN + 1] = upn
  U_ACCOUNT[#U_ACCOUNT + 1] = { account, domain }
end

local function add_device(id, aad, dns, os_, ver, build, group, first)
  local i = #D_JSON -- 0-based
  local u = i % NUSR + 1
  local account, domain = U_ACCOUNT[u][1], U_ACCOUNT[u][2]
  D_JSON[i + 1] = '{"mdatpDeviceId":"' .. id .. '","aadDeviceId":' .. opt(aad) ..
    ',"deviceDnsName":"' .. dns .. '","osPlatform":"' .. os_ .. '","version":' .. opt(ver) ..
    ',"osProcessor":"x64","osBuild":' .. (build == "" and "null" or build) ..
    ',"healthStatus":"Active","riskScore":"Medium","rbacGroupName":"' .. group ..
    '","firstSeen":"' .. first ..
    '","tags":[],"defenderAvStatus":"Updated","onboardingStatus":"Onboarded","vmMetadata":null,' ..
    '"loggedOnUsers":[{"accountName":"' .. account .. '","domainName":"' .. domain .. '"}]}'
  D_FILE_TAIL[i + 1] = '","filePath":"C:\\\\Users\\\\' .. account ..
    '\\\\Downloads","detectionStatus":"Detected","deviceId":"' .. id .. '"}'
  D_PROC_TAIL[i + 1] = '","fileName":"powershell.exe",' ..
    '"filePath":"C:\\\\Windows\\\\System32\\\\WindowsPowerShell\\\\v1.0","accountName":"' ..
    account .. '","domainName":"' .. domain .. '","detectionStatus":"Detected","deviceId":"' ..
    id .. '"}'
end

local function load_pools()
  local pd, pu = os.getenv("BENCH_POOL_DEVICES"), os.getenv("BENCH_POOL_USERS")
  if pu and pu ~= "" then
    for line in io.lines(pu) do
      local f = split_tabs(line)
      if #f >= 5 and #U_USER < NUSR then add_user(f[1], f[2], f[3], f[4], f[5]) end
    end
  end
  for i = #U_USER, NUSR - 1 do
    seed(i, 202)
    local account = fmt("user%05d", i)
    add_user(account, "CONTOSO", fmt("S-1-5-21-1701430498-2853946316-1174617373-%d", 20000 + i),
      guid(), account .. "@contoso.com")
  end
  if pd and pd ~= "" then
    for line in io.lines(pd) do
      local f = split_tabs(line)
      if #f >= 8 and #D_JSON < NDEV then add_device(f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]) end
    end
  end
  local oses = { { "Windows11", "23H2", "22631", "ws" }, { "Windows10", "22H2", "19045", "ws" },
    { "WindowsServer2022", "21H2", "20348", "srv" }, { "Linux", "", "", "lnx" },
    { "macOS", "", "", "mac" } }
  local groups = { "Default", "Workstations", "Servers", "Finance", "Engineering" }
  for i = #D_JSON, NDEV - 1 do
    seed(i, 101)
    local o = oses[i % 10 < 5 and 1 or (i % 10 < 8 and 2 or below(5) + 1)]
    local id = hex8() .. hex8() .. hex8() .. hex8() .. hex8()
    local first = T0 - (30 + below(900)) * 86400 - below(86400)
    add_device(id, o[1]:find("^Windows") and guid() or "", fmt("%s-%05d.corp.contoso.com", o[4], i),
      o[1], o[2], o[3], groups[below(#groups) + 1], ts(first, below(10000000)))
  end
end
load_pools()

-- ---- catalogue: each entry's text from "title" to "devices":, for status New and InProgress --

local CAT = {} -- { source, id prefix, tail by status }
local function entry(src, pfx, title, category, severity, detsrc, technique)
  local e = { src = ',"serviceSource":"' .. src .. '","creationTime":"', pfx = pfx }
  seed(#CAT, 404)
  local detector = guid() -- one detection rule per entry, as detectorId is in real data
  for _, status in ipairs({ "New", "InProgress" }) do
    e[status] = '","title":"' .. title .. '","description":"' .. title ..
      ' (generated by bench/ingest.lua)","category":"' .. category .. '","status":"' .. status ..
      '","severity":"' .. severity ..
      '","investigationId":null,"investigationState":"UnsupportedAlertType",' ..
      '"classification":null,"determination":null,"detectionSource":"' .. detsrc ..
      '","detectorId":"' .. detector ..
      '","assignedTo":null,"actorName":null,"threatFamilyName":null,"mitreTechniques":[' ..
      (technique and ('"' .. technique .. '"') or "") .. '],"devices":'
  end
  CAT[#CAT + 1] = e
  return e
end
local MDE, IDP, MDO = "MicrosoftDefenderForEndpoint", "AzureAdIdentityProtection",
  "MicrosoftCloudAppSecurity"
local mde = {
  entry(MDE, "da", "Suspicious PowerShell command line", "Execution", "High", "WindowsDefenderAtp", "T1059.001"),
  entry(MDE, "da", "'Mimikatz' hacktool was detected", "CredentialAccess", "High", "WindowsDefenderAv", "T1003"),
  entry(MDE, "da", "Suspicious process injection observed", "DefenseEvasion", "Medium", "WindowsDefenderAtp", "T1055"),
  entry(MDE, "da", "'CoinMiner' unwanted software was detected", "UnwantedSoftware", "Low", "WindowsDefenderAv", nil),
  entry(MDE, "da", "Ransomware behavior detected in the file system", "Ransomware", "High", "WindowsDefenderAtp", "T1486"),
  entry(MDE, "da", "Suspicious scheduled task", "Persistence", "Medium", "WindowsDefenderAtp", "T1053.005"),
  entry(MDE, "da", "An active 'Emotet' malware was detected", "Malware", "Medium", "WindowsDefenderAv", nil),
  entry(MDE, "da", "Suspicious connection to a known command and control server", "CommandAndControl", "Medium", "WindowsDefenderAtp", "T1071"),
  entry(MDE, "da", "Anomalous account lookups", "Discovery", "Low", "WindowsDefenderAtp", "T1087"),
  entry(MDE, "da", "Suspicious file dropped and launched", "Execution", "Informational", "WindowsDefenderAtp", "T1204"),
}
local idp = {
  entry(IDP, "ad", "Unfamiliar sign-in properties", "InitialAccess", "Medium", "AAD", "T1078"),
  entry(MDO, "ca", "Impossible travel activity", "InitialAccess", "Medium", "MCAS", "T1078"),
  entry(MDO, "ca", "Mass download by a single user", "Exfiltration", "Low", "MCAS", "T1530"),
  entry(IDP, "ad", "Password spray", "CredentialAccess", "High", "AAD", "T1110.003"),
  entry(MDO, "ca", "Suspicious inbox manipulation rule", "Persistence", "Medium", "MCAS", "T1564.008"),
}
local OFFICE = "MicrosoftDefenderForOffice365"
local mdo = {
  entry(OFFICE, "fa", "Email messages containing malicious URL removed after delivery", "InitialAccess", "Informational", "OfficeATP", "T1566.002"),
  entry(OFFICE, "fa", "A potentially malicious URL click was detected", "InitialAccess", "High", "OfficeATP", "T1566.002"),
  entry(OFFICE, "fa", "Email reported by user as malware or phish", "InitialAccess", "Low", "OfficeATP", "T1566.001"),
  entry(OFFICE, "fa", "Email messages containing malware removed after delivery", "Malware", "Medium", "OfficeATP", "T1566.001"),
}

-- Small pools of random strings; per-alert uniqueness comes from appending s in hex.
local H24, H32, H56, IPS, CMD, SENDER = {}, {}, {}, {}, {}, {}
local FILES = { "invoice.docm", "setup.exe", "update.ps1", "rundll64.dll", "payload.bin", "tool.exe" }
seed(1, 505)
for i = 1, 1024 do
  local g = guid()
  H24[i] = g:sub(1, 24) .. "0000" -- a GUID without its last 8 digits
  H32[i] = hex8() .. hex8() .. hex8() .. hex8()
  H56[i] = H32[i] .. hex8() .. hex8() .. hex8()
  IPS[i] = fmt("%d.%d.%d.%d", 20 + below(200), below(256), below(256), 1 + below(254))
  CMD[i] = "powershell.exe -nop -w hidden -enc " .. hex8() .. hex8() .. hex8()
  SENDER[i] = "billing@" .. hex8() .. ".example"
end

-- The request is assembled from pieces in P[1..np] by one table.concat: the alerts never exist
-- as strings of their own (LuaJIT interns every string; building and copying ~2 KB strings per
-- alert cost wrk several times more).
local P, np, plen = {}, 0, 0
local function put(x)
  np = np + 1
  P[np] = x
  plen = plen + #x
end

local function ip_entity(ev)
  put('{"entityType":"Ip","evidenceCreationTime":"'); put(ev)
  put('","verdict":"Suspicious","remediationStatus":"None","ipAddress":"')
  put(IPS[below(1024) + 1]); put('"}')
end

local function user_entity(ev, u)
  put('{"entityType":"User","evidenceCreationTime":"'); put(ev); put(U_USER[u])
end

-- Puts alert s; `update` gives its changed version (status InProgress, lastUpdatedTime +1 h).
local function alert(s, update)
  seed(s, 1)
  local kind = below(100)
  local hx = tohex(s, 8)
  local fsec = T0 + s * STEP - below(JITTER + 1)
  local first = ts(fsec, below(10000000))
  local lsec = fsec
  local last = first
  if below(4) == 0 then
    lsec = fsec + 1 + below(300)
    last = ts(lsec, below(10000000))
  end
  local csec, cfrac = lsec + 60 + below(120), below(10000000)
  local created = ts(csec, cfrac) -- also the entities' evidenceCreationTime
  local updated = update and ts(csec + 3600, cfrac) or created
  local e, pid
  if kind < 65 then
    e = mde[below(#mde) + 1]
    pid = H24[below(1024) + 1] .. hx .. "_1"
  elseif kind < 85 then
    e = idp[below(#idp) + 1]
    pid = H32[below(1024) + 1] .. hx
  else
    e = mdo[below(#mdo) + 1]
    pid = H24[below(1024) + 1] .. hx
  end
  put('{"alertId":"'); put(e.pfx); put(pid); put('","providerAlertId":"'); put(pid)
  put('","incidentId":null'); put(e.src); put(created); put('","lastUpdatedTime":"'); put(updated)
  put('","resolvedTime":null,"firstActivity":"'); put(first); put('","lastActivity":"'); put(last)
  put(update and e.InProgress or e.New)

  if kind < 65 then -- endpoint: one device, its user, a file, maybe a process and an IP
    local di = below(NDEV) + 1
    local u = (di - 1) % NUSR + 1
    put("["); put(D_JSON[di]); put('],"entities":[')
    if below(100) < 60 then user_entity(created, u); put(",") end
    put('{"entityType":"File","evidenceCreationTime":"'); put(created)
    put('","verdict":"Malicious","remediationStatus":"Remediated","sha1":"')
    if below(1000) == 0 then -- campaign file, shared by ~10 alerts on unrelated devices
      local c = floor(s / 10000) % 1024 + 1
      put(H32[c]); put('c0ffee00","sha256":"'); put(H56[c]); put("c0ffee00")
    else
      local k = below(1024) + 1
      put(H32[k]); put(hx); put('","sha256":"'); put(H56[k]); put(hx)
    end
    put('","fileName":"'); put(FILES[below(#FILES) + 1]); put(D_FILE_TAIL[di])
    if below(100) < 40 then
      local k = below(1024) + 1
      put(',{"entityType":"Process","evidenceCreationTime":"'); put(created)
      put('","verdict":"Suspicious","remediationStatus":"None","processId":')
      put(tostring(1000 + below(60000))); put(',"processCommandLine":"'); put(CMD[k])
      put('","processCreationTime":"'); put(first); put('","parentProcessId":')
      put(tostring(500 + below(9000))); put(',"parentProcessCreationTime":"')
      put(ts(fsec - 60, 0)); put('","sha1":"'); put(H32[k]); put(hx); put('","sha256":"')
      put(H56[k]); put(hx); put(D_PROC_TAIL[di])
    end
    if below(100) < 30 then put(","); ip_entity(created) end
  elseif kind < 85 then -- identity: a user and an IP
    local u = below(NUSR) + 1
    put('[],"entities":['); user_entity(created, u); put(","); ip_entity(created)
  else -- mail: mailbox and message, maybe the user and a cluster
    local u = below(NUSR) + 1
    put('[],"entities":[{"entityType":"Mailbox","evidenceCreationTime":"'); put(created)
    put(U_MAILBOX[u]); put(',{"entityType":"MailMessage","evidenceCreationTime":"'); put(created)
    put('","verdict":"Malicious","remediationStatus":"Remediated","sender":"')
    put(SENDER[below(1024) + 1]); put('","recipient":"'); put(U_UPN[u])
    put('","subject":"Invoice '); put(tostring(below(100000)))
    put('","deliveryAction":"Delivered","internetMessageId":"<'); put(H32[below(1024) + 1])
    put(hx); put('@mail.example>"}')
    if below(100) < 50 then put(","); user_entity(created, u) end
    if below(100) < 2 then
      put(',{"entityType":"MailCluster","evidenceCreationTime":"'); put(created)
      put('","verdict":"Malicious","remediationStatus":"Remediated",' ..
        '"clusterBy":"Subject;P2SenderDomain","clusterByValue":"campaign-')
      put(tostring(floor(s / 20000))); put('","emailCount":'); put(tostring(5 + below(200)))
      put("}")
    end
  end
  put("]}")
end

-- What slot s sends: alert s, or alert s-5,000 again (1%) or changed (0.5%) in odd blocks.
local function slot(s)
  if floor(s / RESEND_DIST) % 2 == 1 then
    seed(s, 9)
    local r = below(1000)
    if r < 10 then return alert(s - RESEND_DIST, false) end
    if r < 15 then return alert(s - RESEND_DIST, true) end
  end
  return alert(s, false)
end

-- ---- wrk callbacks --------------------------------------------------------------------------

local n = 0
local head
-- Globals, so that done() can read them with thread:get().
created, updated, unchanged, bad = 0, 0, 0, 0

function init(args)
  head = "POST /api/alerts HTTP/1.1\r\nHost: " .. wrk.host .. ":" .. wrk.port ..
    "\r\nContent-Type: application/json\r\nAuthorization: Bearer " ..
    (os.getenv("BENCH_TOKEN") or "") .. "\r\nContent-Length: "
end

-- One request: batch b = n*T + t; the whole HTTP request is one string.
function request()
  local b = n * NTHR + (tid or 0)
  n = n + 1
  np, plen = 1, 0
  put('{"value":[')
  for i = 0, BATCH - 1 do
    if i > 0 then put(",") end
    slot(b * BATCH + i)
  end
  put("]}")
  P[1] = head .. plen .. "\r\n\r\n"
  return concat(P, "", 1, np)
end

local function count(body, what)
  local _, k = body:gsub('"result":%s*"' .. what .. '"', "")
  return k
end

function response(status, hdrs, body)
  if status ~= 200 then
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write("ingest.lua: HTTP " .. status .. ": " .. body:sub(1, 300) .. "\n")
    end
    return
  end
  created = created + count(body, "created")
  updated = updated + count(body, "updated")
  unchanged = unchanged + count(body, "unchanged")
end

function done(summary, latency, requests)
  local c, u, k, b = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); u = u + t:get("updated")
    k = k + t:get("unchanged"); b = b + t:get("bad")
  end
  io.write(fmt("ingest: created %d updated %d unchanged %d failed_batches %d\n", c, u, k, b))
end
