//! `wardwatch serve` configuration: a TOML file, every field documented and defaulted, so a
//! hospital can start with no file at all and `--print-config` shows what it runs with.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use wardwatch_listen::ClientAuth;

mod bounds;
mod cluster;
pub use bounds::{ResendSection, SearchSection, TimeSection};
pub use cluster::{ClusterConfig, StoreSection};

/// The documented default configuration, printed by `wardwatch serve --print-config`. A test
/// checks that it parses to exactly [`Config::default`].
pub const DEFAULT_CONFIG_TOML: &str = r#"# Wardwatch configuration. Every key is optional; shown here with its default.

[data]
# Where the store (SQLite, WAL) lives. Created if missing.
dir = "./wardwatch-data"
# Flush every commit to disk before acknowledging (survives power loss). `false` survives a
# crash of the process but may lose the last second of events if the machine loses power.
fsync = true

[http]
# The REST API (`/api/v1`), `/healthz`, `/metrics` and, unless `ingest_listen` is set, bulk
# ingest (`/_bulk`). Plain HTTP is for loopback: to listen on another address, set `tls_cert`
# and `tls_key` (HTTPS), or `allow_plain_http = true` (tokens and events then cross the
# network in clear text; a warning is logged at start).
listen = "127.0.0.1:8080"
# A separate address for bulk ingest (`/_bulk` and the calls shippers make at start-up); the
# API then answers only on `listen`. Empty: bulk ingest on `listen`.
ingest_listen = ""
# Accept plain HTTP on a non-loopback address (not recommended).
allow_plain_http = false
# HTTPS: PEM certificate chain and private key. Both files are re-read when they change (a
# renewed certificate is served from the next connection on, without a restart).
tls_cert = ""
tls_key = ""
# Client certificates: "none", "optional" or "required" (signed by the CAs in `tls_client_ca`).
tls_client_auth = "none"
tls_client_ca = ""
# Largest request body accepted, in MiB (a larger `_bulk` gets 413).
max_body_mb = 100
# Elasticsearch version reported to shippers on `GET /` (Filebeat refuses older ones).
es_version = "8.17.0"
# Most `_bulk` requests decoded at once. A request takes a slot only once its whole body has
# arrived; bodies being read share a memory budget of this x max_body_mb.
max_concurrent_bulk = 8
# Most connections open at once per listener; more wait in the kernel's backlog.
max_connections = 1024
# Most connections open at once from one address; more are closed at once.
max_connections_per_peer = 128
# A request's headers must arrive within this many seconds (also the longest an idle
# keep-alive connection is kept).
header_timeout_secs = 30
# A `_bulk` body must arrive within this many seconds, or the request gets 408.
body_timeout_secs = 60
# A connection that waits this many seconds for its peer (to send or to read) is closed.
idle_timeout_secs = 120
# Sender networks accepted (CIDR or single addresses, e.g. ["10.0.0.0/8"]); empty: all.
allowed_networks = []
# `/metrics` answers without an API token (e.g. for a Prometheus on a trusted network).
metrics_open = false

[syslog]
# Syslog over UDP and TCP on the same address (RFC 5424 and RFC 3164; octet-counted or
# newline framing). Empty string: no syslog listener.
listen = "0.0.0.0:5514"
# Largest message kept whole, in KiB; longer ones are truncated and counted as malformed.
max_message_kb = 64
# Syslog over TLS (RFC 5425). Set all three to enable. The certificate files are re-read
# when they change.
tls_listen = ""
tls_cert = ""
tls_key = ""
# Client certificates on syslog TLS: "none", "optional" or "required" (signed by the CAs in
# `tls_client_ca`). The certificate's subject is recorded on each event (`tls.client.subject`).
tls_client_auth = "none"
tls_client_ca = ""
# Most TCP (and, separately, TLS) connections open at once; more wait in the kernel's backlog.
max_connections = 1024
# Most TCP or TLS connections open at once from one address; more are closed at once.
max_connections_per_peer = 64
# A TCP or TLS connection that sends nothing for this many seconds is closed (senders
# reconnect when they have something to send).
idle_timeout_secs = 600
# Sender networks accepted on UDP and TCP (CIDR or single addresses); empty: all. Others are
# refused and counted (`wardwatch_refused_network_total`).
allowed_networks = []
# The same for syslog over TLS.
tls_allowed_networks = []

[intel]
# Threat intelligence to match every incoming event against: STIX 2.1 bundles, MISP events and
# IOC lists (files or folders; .tar.gz too). A hit is an alert naming the file it came from.
# `wardwatch intel check PATH` says what a file holds; `wardwatch intel retro` searches the past.
paths = []
# Our name as partners know it: the identity of the sightings sent back to producers.
producer = "Wardwatch site"
# Partners' feeds polled while serving, one [[intel.feeds]] table each (none by default). What
# they send is kept in the store by feed, matched live at once, hunted for in the stored events
# of the look-back, and expires (`valid_until`) or is revoked as the producer says;
# `wardwatch intel feeds` shows each feed's position, counts and last error. Example:
#   [[intel.feeds]]
#   name = "partner-hospital"          # names the alerts: intel:partner-hospital:<kind>
#   kind = "taxii"                     # taxii | misp | ioc
#   url = "https://taxii.partner.example/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/"
#   collection = ""                    # the collection id, when url is the API root
#   token = "env:PARTNER_TAXII_TOKEN"  # or user = "..." and password = "env:..."
#   ca = ""                            # PEM of the partner's own CA, if not a public one
#   interval_secs = 300
#   lookback_days = 30                 # how far back a new indicator is hunted for
#   sightings = true                   # tell the producer (TAXII) when its indicator is seen here
#   tlp = "amber"                      # assumed when the feed marks nothing
feeds = []

[taxii]
# The TAXII 2.1 server partner hospitals read what we share from (`/taxii2/` on the HTTP
# listener) and post sightings to. Off until enabled. What is published comes from
# `wardwatch intel share INCIDENT --collection C` or POST /api/v1/incidents/{id}/share.
enabled = false
title = "Wardwatch TAXII server"
description = ""
contact = ""
# The API root's name: /taxii2/{api_root}/
api_root = "intel"
# The address partners reach this server at (behind a reverse proxy), e.g.
# "https://xdr.hospital.example"; empty: taken from each request's Host.
public_url = ""
# The producing hospital's name in what is shared.
producer = "Wardwatch site"
# The largest POST accepted, KiB (announced as max_content_length; larger gets 413).
max_content_kb = 10240
# Most objects in one page (a client's `limit` above it is lowered to it).
max_page_size = 1000
# The TLP an object without a TLP marking is read under.
unmarked_tlp = "amber"
# How long a collection keeps what was added to it — what we published, what partners posted
# and their POSTs' status resources —, days (checked hourly); 0 keeps everything. A
# collection's own `retention_days` overrides it.
retention_days = 365
# Collections and partners look like this (a partner's token: `wardwatch tokens add NAME
# --kind taxii`, stored hashed; give the secret to the partner):
# [[taxii.collections]]
# alias = "incidents"                  # the name used with --collection and in URLs
# id = ""                              # a UUID; empty: derived from the alias
# title = "Incidents shared by ..."
# description = ""
# retention_days = 365                 # optional: this collection's own, 0 keeps everything
#
# [[taxii.partners]]
# name = "st-example-hospital"         # also its token's name
# read = ["incidents"]                 # collections it may read
# write = ["incidents"]                # and post to (its sightings, its indicators)
# max_tlp = "amber"                    # highest TLP it reads: green, amber, amber+strict, red

[rules]
# Load the built-in rule pack.
builtin = true
# More Sigma rule folders (searched recursively for *.yml).
folders = []
# Optional community rule packs, by name (looked up in $WARDWATCH_PACK_PATH, a colon-separated
# list of folders holding NAME or NAME-rules) or by folder. "hayabusa" is the Hayabusa
# project's own Sigma-format rules, loaded with the level policy Wardwatch ships for them
# (packs/hayabusa.yml: timeline rules, restatements of our own rules and routine administration
# left out or lowered). Off by default: with that policy they add nothing at medium or higher
# on the benign sets, and no caught attack file on the tuning halves (bench/README.md).
packs = []

[pipeline]
# When more events than this wait for detection, only senders well within their budget
# (below) are admitted, and budgets shrink the further behind detection is; past twice this,
# ingest pushes back on everyone (HTTP 429, TCP stops reading, UDP drops and counts).
max_queued_events = 500000
# Each sender's budget, in events per second: a syslog sender by its address, a `_bulk`
# shipper by its ingest token. A sender over it is throttled while the others keep flowing
# (UDP: dropped; TCP/TLS: not read for a moment; `_bulk`: 429), counted in
# `wardwatch_throttled_total`. 0: no per-sender budget. A busy network sensor shipping its
# Zeek or EVE logs through one token can need more (bench/network.sh lifts it).
source_budget_events_per_sec = 20000
# Most events committed in one journal transaction.
commit_max_events = 20000
# Batches waiting for the journal writer before senders wait.
writer_queue_batches = 64
# Events read by the detection worker per pass.
detect_batch = 4000

[incidents]
# Alerts that share a host, user or source address (or are linked: parent -> child process,
# a mail's recipient -> that user's activity, a logon from host A to host B) within this many
# minutes of an incident's last alert join it.
window_minutes = 120
# An incident with no new alert for this many minutes closes; later alerts open a new one.
quiet_minutes = 360
# Asset inventory: CSV (`match,class,criticality,name,department`; match = hostname, IP or
# CIDR subnet) or YAML (a list of the same keys). Empty: every asset is "unknown",
# criticality 3. Used by scoring and narratives.
inventory = ""
# People: CSV (`user,name,email,department,role,privileged,manager`) or YAML. Empty: none.
roster = ""
# The context folder (the one `hunt --context` reads): inventory.csv, roster.csv, zones.csv
# (`from_zone,to_zone,ports,note`: what the segmentation policy allows), each optional, CSV
# or YAML. The inventory's `zone` column and classes (scanner, backup, admin...) feed the
# network analytics. `inventory` / `roster` above, when set, replace the folder's file.
# patients.csv and encounters.csv in it turn on the patient-record privacy analytics (names
# and addresses kept only as keyed hashes under a key the store makes once); their alerts form
# per-user privacy incidents that only privacy officers and admins see, never mailed.
context = ""

[retention]
# Remove events older than this many days (0: keep forever).
max_age_days = 90
# Remove the oldest events beyond this many MiB of stored documents (0: no size limit).
max_size_mb = 0
# How often retention runs, in seconds.
interval_secs = 60
# The identity ledger (where and how each account was used, per day): days kept (0: forever),
# and the most rows kept (0: no limit; the oldest days go first). A row is one account, day
# and place (host, source, device, application, logon type or country).
identity_ledger_days = 400
identity_ledger_max_rows = 5000000

[time]
# Retention and incident grouping go by when the server received an event. An event's own
# time is trusted for grouping when it is at most this far from then; an event further off
# keeps its own time (searchable) but is flagged `event.time_skew` (seconds), counted per source
# in /metrics (wardwatch_time_skewed_total), and grouped by its received time.
max_behind_days = 30
max_ahead_minutes = 15

[search]
# A search (GET /api/v1/events) without `from` covers this many hours before `to` (or now);
# the response says so in `note`.
default_window_hours = 24
# A search stops after this many milliseconds and returns what it found with
# `"partial": true` and a `next_cursor` to go on from.
budget_ms = 5000

[resend]
# A `_bulk` document without `_id` that the same source sends again within this many seconds
# (a shipper's retry after a lost acknowledgement) is stored once, and counted as
# wardwatch_resends_total. 0: off.
window_secs = 600
# Most documents remembered for that (about 40 bytes each); under heavy load the oldest are
# forgotten first, so the window is shorter.
max_documents = 500000

[identity]
# A GeoIP database in MaxMind's format (.mmdb: GeoLite2 / GeoIP2 City or Country, or another
# vendor's export) to place sign-in addresses: a new country, impossible travel. Empty: only
# the places Entra ID and Okta report for their own sign-ins.
geoip = ""
# The working day, for "privileged account used off-hours": the hospital's time zone (IANA
# name, e.g. "Europe/Amsterdam"; empty: off-hours is not judged), its first and last hour,
# and whether weekends are off. On-call staff (role "on-call ..." in the roster) are exempt.
timezone = ""
workday_start = 7
workday_end = 19
weekends_off = true
# Service accounts by name when the roster's role does not say ("*" at either end). Empty:
# svc_*, svc-*, svc.*, sa_*, sa-*, srv_*, srv-*, *_svc, *-svc, *_service, *-service.
service_accounts = []

[mail]
# The SMTP journaling listener: the mail server sends a copy of each message here (an
# Exchange journal rule, Postfix always_bcc); each is scanned and stored before the server
# hears 250. Empty: off. Example: "0.0.0.0:2525".
smtp_listen = ""
# Envelope senders (MAIL FROM) allowed without a token: addresses or "@domain". Otherwise the
# client authenticates with AUTH PLAIN and an ingest token.
smtp_allowed_senders = []
# Networks allowed to connect (CIDR); empty: any.
smtp_allowed_networks = []
# Largest message accepted, KiB.
smtp_max_message_kb = 51200
smtp_max_connections = 64
smtp_idle_timeout_secs = 300
# The hospital's own mail domains (look-alikes and spoofs of them are judged hardest).
own_domains = []
# Brands to protect besides the built-in list, as "name=domain" or a domain (suppliers...).
brands = []
# Indicator file: one SHA-256, URL or domain per line; empty for none.
indicators = ""
# Keep message text in stored events (default: headers, URLs, attachment names and hashes only).
keep_body = false

[notify]
# Incident mail and webhooks. Nothing is sent until [notify.smtp] or a [[notify.webhooks]]
# and a [[notify.routes]] are set (examples below). Messages are queued in the store and
# retried until delivered, across restarts; see GET /api/v1/notifications.
# The console's address as people reach it: mails link to {console_url}/incidents/{id}.
console_url = "http://127.0.0.1:8080"
# One message when an incident opens, one when it escalates (severity rises, a new host or a
# privileged account joins); other updates are collected this many minutes into one digest.
digest_minutes = 30
# Most messages per recipient per hour; then one "N more incidents: see the console" message
# when the hour ends. 0: no limit.
rate_limit_per_hour = 10
# Delivery attempts before a message is marked failed (it stays listed with its error).
max_attempts = 20
# First retry after this many seconds, doubling each time (at most an hour).
retry_secs = 30

[notify.quiet_hours]
# During quiet hours ("22:00" to "06:30"; empty: none) only incidents at or above
# `let_through` go out at once; the rest are held until the end. Critical always goes out.
start = ""
end = ""
timezone = "UTC"
let_through = "critical"

[notify.report]
# The management report (`wardwatch report`), mailed on a schedule to these addresses (empty:
# not scheduled): `week` on Mondays for the week before, `month` on the 1st, at `hour`
# (in the quiet hours' time zone).
to = []
period = "week"
hour = 7

# [notify.smtp]
# server = "mail.hospital.example:587"   # host:port
# from = "wardwatch@hospital.example"
# tls = "starttls"                       # none | starttls | tls (implicit, port 465)
# username = ""                          # optional login (never over tls = "none")
# password = ""
# ca_file = ""                           # extra CA certificate (PEM) to trust
# timeout_secs = 20
#
# [[notify.webhooks]]
# name = "teams"
# url = "https://example.webhook.office.com/..."
# format = "teams"                       # generic | teams | slack
# secret = ""                            # set: header X-Wardwatch-Signature: sha256=<HMAC>
#
# [[notify.routes]]                      # who hears about what; empty filters match all
# to = ["it-team@hospital.example"]
# webhooks = ["teams"]
# min_severity = "medium"
# asset_classes = []                     # e.g. ["pacs", "epr-server", "domain-controller"]
# departments = []                       # of an involved host or person
# organizations = []
# tags = []                              # ATT&CK tactics or techniques, e.g. ["impact"]

# Scale-out (docs/SCALE.md): with [cluster] and [store], `wardwatch serve --role ingest|detect|
# incidents|api|all` nodes share NATS JetStream (events in transit), ClickHouse (events and
# alerts) and PostgreSQL (incidents, exceptions, tokens, accounts, audit, queues); run
# `wardwatch cluster init` once. Without them (the default) `serve` is the single binary.
# [cluster]
# nats = "nats://127.0.0.1:4222"      # comma-separated servers; tls:// for TLS
# partitions = 8                       # the most detection workers sharing the work
# replicas = 1                         # copies of each stream (3 in a NATS cluster)
# max_backlog_mb = 1024                # unprocessed events held; past it ingest answers 429
# duplicate_window_secs = 120          # a batch a sender resends within this is kept once
# ack_wait_secs = 60                   # an unacknowledged batch goes to a worker again after
# publish_timeout_secs = 5             # ingest answers 503 when JetStream has not acked by then
#
# [store]
# events = "clickhouse://127.0.0.1:8123/wardwatch"
# state = "postgres://wardwatch@127.0.0.1:5432/wardwatch"
"#;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data: DataConfig,
    pub http: HttpConfig,
    pub syslog: SyslogSection,
    pub rules: RulesConfig,
    pub pipeline: PipelineSection,
    pub incidents: IncidentsSection,
    pub retention: RetentionSection,
    pub time: TimeSection,
    pub search: SearchSection,
    pub resend: ResendSection,
    pub identity: crate::identity::IdentitySection,
    pub mail: crate::mail::MailSection,
    pub notify: wardwatch_notify::NotifyConfig,
    pub intel: IntelSection,
    pub taxii: crate::taxii::TaxiiSection,
    /// `[cluster]`: NATS JetStream for a scale-out deployment; `None`: the single binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
    /// `[store]`: ClickHouse and PostgreSQL for a scale-out deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreSection>,
}

/// `[intel]`: threat intelligence other hospitals and feeds share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelSection {
    /// STIX 2.1 bundles, MISP events and IOC lists (files or folders) every incoming event is
    /// matched against; read at start, a file that does not import stops the start with its
    /// name. Default none.
    pub paths: Vec<PathBuf>,
    /// Our name as partners know it (the identity of sightings). Default "Wardwatch site".
    pub producer: String,
    /// Partners' feeds polled while serving (`crate::intel_feeds`). Default none.
    pub feeds: Vec<crate::intel_feeds::FeedConfig>,
}

impl Default for IntelSection {
    fn default() -> Self {
        IntelSection {
            paths: Vec::new(),
            producer: "Wardwatch site".into(),
            feeds: Vec::new(),
        }
    }
}

/// `[incidents]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsSection {
    /// Grouping window, minutes. Default 120.
    pub window_minutes: u64,
    /// Quiet time after which an incident closes, minutes. Default 360.
    pub quiet_minutes: u64,
    /// Asset inventory file (CSV or YAML); empty for none.
    pub inventory: PathBuf,
    /// People roster file (CSV or YAML); empty for none.
    pub roster: PathBuf,
    /// The context folder (inventory, roster, zones); empty for none.
    pub context: PathBuf,
}

impl Default for IncidentsSection {
    fn default() -> Self {
        IncidentsSection {
            window_minutes: 120,
            quiet_minutes: 360,
            inventory: PathBuf::new(),
            roster: PathBuf::new(),
            context: PathBuf::new(),
        }
    }
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Store directory. Default `./wardwatch-data`.
    pub dir: PathBuf,
    /// fsync every commit. Default `true`.
    pub fsync: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dir: PathBuf::from("./wardwatch-data"),
            fsync: true,
        }
    }
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// API listen address (and bulk, unless `ingest_listen`). Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Separate bulk ingest address; empty for none.
    pub ingest_listen: String,
    /// Plain HTTP allowed on a non-loopback address. Default `false`.
    pub allow_plain_http: bool,
    /// PEM certificate chain for HTTPS; empty for plain HTTP.
    pub tls_cert: String,
    /// PEM private key for HTTPS.
    pub tls_key: String,
    /// Client certificates: none, optional, required.
    pub tls_client_auth: ClientAuth,
    /// PEM CA certificates for client certificates.
    pub tls_client_ca: String,
    /// Request body limit in MiB. Default 100.
    pub max_body_mb: u64,
    /// Version reported on `GET /`. Default `8.17.0`.
    pub es_version: String,
    /// Bulk requests decoded at once. Default 8.
    pub max_concurrent_bulk: usize,
    /// Connections per listener. Default 1024.
    pub max_connections: usize,
    /// Connections per peer address. Default 128.
    pub max_connections_per_peer: usize,
    /// Header read timeout, seconds. Default 30.
    pub header_timeout_secs: u64,
    /// Bulk body read timeout, seconds. Default 60.
    pub body_timeout_secs: u64,
    /// Idle connection timeout, seconds. Default 120.
    pub idle_timeout_secs: u64,
    /// Sender networks accepted; empty for all.
    pub allowed_networks: Vec<String>,
    /// `/metrics` without an API token. Default `false`.
    pub metrics_open: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ingest_listen: String::new(),
            allow_plain_http: false,
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client_auth: ClientAuth::None,
            tls_client_ca: String::new(),
            max_body_mb: 100,
            es_version: "8.17.0".into(),
            max_concurrent_bulk: 8,
            max_connections: 1024,
            max_connections_per_peer: 128,
            header_timeout_secs: 30,
            body_timeout_secs: 60,
            idle_timeout_secs: 120,
            allowed_networks: Vec::new(),
            metrics_open: false,
        }
    }
}

/// `[syslog]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogSection {
    /// UDP + TCP listen address; empty for none. Default `0.0.0.0:5514`.
    pub listen: String,
    /// Message size limit in KiB. Default 64.
    pub max_message_kb: u64,
    /// TLS listen address; empty for none.
    pub tls_listen: String,
    /// PEM certificate chain for TLS.
    pub tls_cert: String,
    /// PEM private key for TLS.
    pub tls_key: String,
    /// Client certificates on TLS: none, optional, required.
    pub tls_client_auth: ClientAuth,
    /// PEM CA certificates for client certificates.
    pub tls_client_ca: String,
    /// TCP / TLS connections per listener. Default 1024.
    pub max_connections: usize,
    /// TCP / TLS connections per peer address. Default 64.
    pub max_connections_per_peer: usize,
    /// Idle TCP / TLS connection timeout, seconds. Default 600.
    pub idle_timeout_secs: u64,
    /// Sender networks accepted on UDP and TCP; empty for all.
    pub allowed_networks: Vec<String>,
    /// Sender networks accepted on TLS; empty for all.
    pub tls_allowed_networks: Vec<String>,
}

impl Default for SyslogSection {
    fn default() -> Self {
        SyslogSection {
            listen: "0.0.0.0:5514".into(),
            max_message_kb: 64,
            tls_listen: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client_auth: ClientAuth::None,
            tls_client_ca: String::new(),
            max_connections: 1024,
            max_connections_per_peer: 64,
            idle_timeout_secs: 600,
            allowed_networks: Vec::new(),
            tls_allowed_networks: Vec::new(),
        }
    }
}

/// `[rules]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Load the built-in pack. Default `true`.
    pub builtin: bool,
    /// More rule folders. Default none.
    pub folders: Vec<PathBuf>,
    /// Optional community rule packs, by name (looked up in `$WARDWATCH_PACK_PATH`) or by
    /// folder. Default none.
    pub packs: Vec<String>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            builtin: true,
            folders: Vec::new(),
            packs: Vec::new(),
        }
    }
}

/// `[pipeline]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSection {
    pub max_queued_events: u64,
    /// Events per second per sender; 0 for no budget. Default 20000.
    pub source_budget_events_per_sec: u64,
    pub commit_max_events: usize,
    pub writer_queue_batches: usize,
    pub detect_batch: usize,
}

impl Default for PipelineSection {
    fn default() -> Self {
        PipelineSection {
            max_queued_events: 500_000,
            source_budget_events_per_sec: 20_000,
            commit_max_events: 20_000,
            writer_queue_batches: 64,
            detect_batch: 4000,
        }
    }
}

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Days to keep events; 0 forever. Default 90.
    pub max_age_days: u64,
    /// MiB of documents to keep; 0 no limit. Default 0.
    pub max_size_mb: u64,
    /// Seconds between passes. Default 60.
    pub interval_secs: u64,
    /// Days of the identity ledger to keep; 0 forever. Default 400.
    pub identity_ledger_days: u64,
    /// Identity ledger rows to keep at most; 0 no limit. Default 5,000,000.
    pub identity_ledger_max_rows: u64,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection {
            max_age_days: 90,
            max_size_mb: 0,
            interval_secs: 60,
            identity_ledger_days: 400,
            identity_ledger_max_rows: 5_000_000,
        }
    }
}

/// What the pipeline threads need (derived from [`Config`]).
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub fsync: bool,
    pub max_queued_events: u64,
    pub commit_max_events: usize,
    pub writer_queue_batches: usize,
    pub detect_batch: usize,
    pub retention: RetentionConfig,
    /// How far a sender's time is trusted.
    pub clock: wardwatch_core::ClockWindow,
    pub resend: ResendSection,
}

/// Retention as the pipeline applies it.
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    pub max_age_days: Option<u64>,
    pub max_size_mb: Option<u64>,
    pub interval_secs: u64,
    pub ledger_days: Option<u32>,
    pub ledger_max_rows: Option<u64>,
}

impl Config {
    /// Parse a TOML configuration; errors name the key and the line.
    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    pub(crate) fn pipeline(&self) -> PipelineConfig {
        let nonzero = |n: u64| (n > 0).then_some(n);
        PipelineConfig {
            fsync: self.data.fsync,
            max_queued_events: self.pipeline.max_queued_events,
            commit_max_events: self.pipeline.commit_max_events.max(1),
            writer_queue_batches: self.pipeline.writer_queue_batches.max(1),
            detect_batch: self.pipeline.detect_batch.max(1),
            retention: RetentionConfig {
                max_age_days: nonzero(self.retention.max_age_days),
                max_size_mb: nonzero(self.retention.max_size_mb),
                interval_secs: self.retention.interval_secs,
                ledger_days: nonzero(self.retention.identity_ledger_days)
                    .map(|d| u32::try_from(d).unwrap_or(u32::MAX)),
                ledger_max_rows: nonzero(self.retention.identity_ledger_max_rows),
            },
            clock: self.time.window(),
            resend: self.resend.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_default_config_is_the_default() {
        assert_eq!(
            Config::from_toml(DEFAULT_CONFIG_TOML).unwrap(),
            Config::default()
        );
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = Config::from_toml("[http]\nlisten = \"nope\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen"), "{e}");
        let e = Config::from_toml("[syslog]\nport = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("port"), "{e}");
    }
}
