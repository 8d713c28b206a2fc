//! Real mail servers on 127.0.0.1 for tests: Dovecot (IMAP, IMAPS, LMTP) and an ESMTP bridge.
//!
//! [`start`] writes a private Dovecot configuration, a self-signed certificate and the users into
//! a fresh temporary directory, then runs `dovecot -F` and `smtp_bridge.py` (aiosmtpd, on Debian's
//! `/usr/bin/python3`) as child processes. The bridge plays the receiving MTA: it authenticates
//! senders, stamps an `Authentication-Results` verdict and hands each message to Dovecot's LMTP,
//! so mail sent over SMTP shows up over IMAP (and IDLE) like on a real host.
//!
//! Running as root (as CI does), mail is owned by `nobody` and Dovecot's own processes run as
//! its packaged `dovecot`/`dovenull` users: Dovecot refuses to deliver mail as uid 0.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The bridge script, written into each server's directory at start.
const BRIDGE_SCRIPT: &str = include_str!("smtp_bridge.py");
/// Debian's interpreter, where `python3-aiosmtpd` lives (a pyenv or venv python lacks it).
const PYTHON: &str = "/usr/bin/python3";
/// What a developer (or `.ci/run`) installs to get these servers.
const INSTALL: &str = "apt-get install -y dovecot-imapd dovecot-lmtpd python3-aiosmtpd";
/// How long Dovecot and the bridge get to come up.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one LMTP reply may take in [`MailServers::deliver_raw`].
const LMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many lines of each log a failure report shows.
const LOG_TAIL_LINES: usize = 40;

/// The authserv-id of the bridge's `Authentication-Results` fields.
pub const AUTHSERV_ID: &str = "mx.openmog.test";
/// The domain of the test users.
pub const DOMAIN: &str = "example.test";
/// The local parts of the users of [`DOMAIN`]; each one's password is `pw-<local part>`.
pub const USERS: [&str; 5] = ["agent", "ann", "bob", "carol", "mallory"];
/// A user of another domain, `other.test`, with password `pw-eve`.
pub const OUTSIDER: &str = "eve@other.test";

/// Running Dovecot and SMTP bridge; both are killed and their files removed on drop.
pub struct MailServers {
    /// Plain IMAP, with STARTTLS offered.
    pub imap_port: u16,
    /// IMAP over implicit TLS.
    pub imaps_port: u16,
    /// The bridge's ESMTP port: AUTH PLAIN/LOGIN (also without TLS), STARTTLS offered.
    pub smtp_port: u16,
    /// Dovecot's LMTP port, which the bridge delivers to.
    pub lmtp_port: u16,
    /// The authserv-id of the `Authentication-Results` fields the bridge stamps.
    pub authserv_id: String,
    /// The self-signed certificate (PEM) for `localhost` and 127.0.0.1; clients must trust it.
    pub ca_pem: String,
    /// The test users' domain, `example.test`.
    pub domain: String,
    dovecot: Option<Child>,
    bridge: Option<Child>,
    dir: TempDir,
}

/// Starts the servers, or returns `None` (after saying why) when Dovecot or aiosmtpd is missing.
///
/// With `CI=true` a missing server panics instead, so CI cannot silently skip the email tests.
/// Panics, with the servers' logs, when they do not come up within 10 s.
pub fn start() -> Option<MailServers> {
    let dovecot = match prerequisites() {
        Ok(dovecot) => dovecot,
        Err(reason) => return skip(&reason),
    };
    let dir = tempfile::Builder::new()
        // Dovecot's base_dir lives in here: unix socket paths must stay under ~100 bytes.
        .prefix("om")
        .tempdir_in("/tmp")
        .unwrap_or_else(|err| panic!("cannot create a temporary directory in /tmp: {err}"));
    let ports = free_ports();
    let mut servers = MailServers {
        imap_port: ports[0],
        imaps_port: ports[1],
        smtp_port: ports[2],
        lmtp_port: ports[3],
        authserv_id: AUTHSERV_ID.to_owned(),
        ca_pem: String::new(),
        domain: DOMAIN.to_owned(),
        dovecot: None,
        bridge: None,
        dir,
    };
    // From here on a panic drops `servers`, which kills whatever was already started.
    servers.ca_pem = make_certificate(servers.dir());
    let accounts = prepare_files(&servers);
    servers.dovecot = Some(servers.spawn_dovecot(&dovecot, &accounts));
    servers.bridge = Some(servers.spawn_bridge());
    if let Err(reason) = servers.wait_until_ready() {
        panic!("{}", servers.failure_report(&reason));
    }
    Some(servers)
}

impl MailServers {
    /// The temporary directory holding configuration, logs, mailboxes and sockets.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// An email channel's `settings` table (TOML, one key a line) for the mailbox
    /// `address` on these servers: IMAP over `imap` (`tls`, `starttls` or `plain`), SMTP
    /// with STARTTLS, the test CA trusted (written into [`Self::dir`]).
    pub fn channel_settings_toml(&self, address: &str, imap: &str) -> String {
        let imap_port = match imap {
            "tls" => self.imaps_port,
            _ => self.imap_port,
        };
        let ca = self.dir().join("test-ca.pem");
        fs::write(&ca, &self.ca_pem).expect("write the test CA");
        format!(
            r#"address = "{address}"
trusted_authserv_ids = ["{authserv}"]
poll_interval = "5s"
timeout = "5s"
ca_file = "{ca}"
imap = {{ host = "{host}", port = {imap_port}, security = "{imap}", password = "{password}" }}
smtp = {{ host = "{host}", port = {smtp_port}, security = "starttls", password = "{password}" }}"#,
            authserv = self.authserv_id,
            ca = ca.display(),
            host = if imap == "plain" {
                "127.0.0.1"
            } else {
                "localhost"
            },
            password = self.password(address),
            smtp_port = self.smtp_port,
        )
    }

    /// The password of `user` (`bob` or `bob@example.test`): `pw-<local part>`.
    pub fn password(&self, user: &str) -> String {
        let local = user.split('@').next().unwrap_or(user);
        format!("pw-{}", local.to_lowercase())
    }

    /// Makes the bridge answer the next `n` messages with `451 4.7.1 try again later`.
    pub fn fail_next_sends(&self, n: u32) {
        let path = self.dir().join("bridge/fail_next");
        let scratch = self.dir().join("bridge/fail_next.new");
        // Write-then-rename: the bridge must never read a half-written count.
        fs::write(&scratch, n.to_string())
            .and_then(|()| fs::rename(&scratch, &path))
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
    }

    /// How many messages `user` (`bob` or `bob@example.test`) has in `Maildir/new` and `cur`.
    pub fn maildir_count(&self, user: &str) -> usize {
        let maildir = self.maildir(user);
        ["new", "cur"]
            .iter()
            .map(|sub| count_files(&maildir.join(sub)))
            .sum()
    }

    /// Delivers `raw` to `rcpt` straight through LMTP, bypassing the bridge and its verdict.
    ///
    /// For crafted mail (auto-replies, forged headers). Bare LF line ends are sent as CRLF.
    /// Panics when Dovecot does not accept the message.
    pub fn deliver_raw(&self, rcpt: &str, raw: &[u8]) {
        let mut lmtp = Lmtp::connect(self.lmtp_port);
        lmtp.expect(220, "greeting");
        lmtp.command("LHLO openmog.test", 250);
        lmtp.command("MAIL FROM:<>", 250);
        lmtp.command(&format!("RCPT TO:<{rcpt}>"), 250);
        lmtp.command("DATA", 354);
        lmtp.send(&dot_stuffed(raw));
        // LMTP answers once per accepted recipient; there is exactly one.
        lmtp.expect(250, "end of DATA");
        lmtp.command("QUIT", 221);
    }

    /// The Maildir of `user`, where the userdb's `home=<dir>/mail/%Ld/%Ln` puts it.
    fn maildir(&self, user: &str) -> PathBuf {
        let address = user.to_lowercase();
        let (local, domain) = address
            .split_once('@')
            .unwrap_or((address.as_str(), DOMAIN));
        // `agent+tag` delivers to `agent` (recipient_delimiter = +).
        let local = local.split('+').next().unwrap_or(local);
        self.dir()
            .join("mail")
            .join(domain)
            .join(local)
            .join("Maildir")
    }

    /// Runs `dovecot -F` on the generated configuration.
    fn spawn_dovecot(&self, dovecot: &Path, accounts: &Accounts) -> Child {
        let config = self.dir().join("dovecot.conf");
        let text = dovecot_config(self, accounts);
        fs::write(&config, text).unwrap_or_else(|err| panic!("cannot write the config: {err}"));
        Command::new(dovecot)
            .arg("-F")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(self.log_file("dovecot.stdout"))
            .stderr(self.log_file("dovecot.stderr"))
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", dovecot.display()))
    }

    /// Runs the bridge script; its stdout (`READY`) and stderr go to files for polling and reports.
    fn spawn_bridge(&self) -> Child {
        let dir = self.dir();
        let script = dir.join("smtp_bridge.py");
        fs::write(&script, BRIDGE_SCRIPT)
            .unwrap_or_else(|err| panic!("cannot write the bridge script: {err}"));
        Command::new(PYTHON)
            .arg(&script)
            .args(["--port", &self.smtp_port.to_string()])
            .args(["--lmtp-port", &self.lmtp_port.to_string()])
            .args(["--authserv-id", &self.authserv_id])
            .arg("--users")
            .arg(dir.join("users"))
            .arg("--statedir")
            .arg(dir.join("bridge"))
            .arg("--tls-cert")
            .arg(dir.join("cert.pem"))
            .arg("--tls-key")
            .arg(dir.join("key.pem"))
            // The caller's Python environment must not shadow Debian's packages.
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(self.log_file("bridge.stdout"))
            .stderr(self.log_file("bridge.stderr"))
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {PYTHON}: {err}"))
    }

    /// A fresh file in the temporary directory for a child's output.
    fn log_file(&self, name: &str) -> fs::File {
        let path = self.dir().join(name);
        fs::File::create(&path)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", path.display()))
    }

    /// Polls until the bridge printed READY and every port accepts connections.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.check_children()?;
            if self.bridge_ready() && self.all_ports_accept() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready after {READY_TIMEOUT:?}"));
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// Fails as soon as either child has exited: waiting longer would not help.
    fn check_children(&mut self) -> Result<(), String> {
        for (name, child) in [("dovecot", &mut self.dovecot), ("bridge", &mut self.bridge)] {
            if let Some(child) = child
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("{name} exited early: {status}"));
            }
        }
        Ok(())
    }

    fn bridge_ready(&self) -> bool {
        fs::read_to_string(self.dir().join("bridge.stdout"))
            .is_ok_and(|out| out.lines().any(|line| line == "READY"))
    }

    fn all_ports_accept(&self) -> bool {
        [
            self.imap_port,
            self.imaps_port,
            self.lmtp_port,
            self.smtp_port,
        ]
        .into_iter()
        .all(|port| {
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        })
    }

    /// Why the servers did not start, with the tails of their logs.
    fn failure_report(&self, reason: &str) -> String {
        let mut report = format!("the test mail servers did not start: {reason}");
        for log in ["dovecot.log", "dovecot.stderr", "bridge.stderr"] {
            let text = fs::read_to_string(self.dir().join(log)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            report.push_str(&format!("\n--- {log} ---\n{}", tail.join("\n")));
        }
        report
    }
}

impl Drop for MailServers {
    fn drop(&mut self) {
        // SIGKILL is enough: Dovecot's own children exit when their master's pipe closes, and
        // the bridge keeps no state worth flushing. The TempDir (with base_dir) goes afterwards.
        for mut child in [self.bridge.take(), self.dovecot.take()]
            .into_iter()
            .flatten()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Returns Dovecot's path when everything the servers need is installed, or why not.
fn prerequisites() -> Result<PathBuf, String> {
    let dovecot = find_dovecot().ok_or("dovecot is not installed")?;
    let aiosmtpd = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !aiosmtpd.is_ok_and(|status| status.success()) {
        return Err(format!("{PYTHON} cannot import aiosmtpd"));
    }
    let openssl = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status();
    if !openssl.is_ok_and(|status| status.success()) {
        return Err("openssl is not installed".to_owned());
    }
    Ok(dovecot)
}

/// `dovecot` on PATH or in the sbin directories, which a non-root PATH often lacks.
fn find_dovecot() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("dovecot"))
        .find(|candidate| candidate.is_file())
}

/// Skips the calling test, except on CI where a missing server is a broken setup.
fn skip(reason: &str) -> Option<MailServers> {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!(
            "CI=true: the email tests need Dovecot and aiosmtpd ({reason}); \
             .ci/run installs them: {INSTALL}"
        );
    }
    eprintln!("skipping: {reason}; install with {INSTALL}");
    None
}

/// Four distinct free ports: all are held at once so none is handed out twice, then released.
fn free_ports() -> [u16; 4] {
    let listeners = [(); 4].map(|()| {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|err| panic!("cannot bind 127.0.0.1:0: {err}"))
    });
    listeners.map(|listener| {
        listener
            .local_addr()
            .unwrap_or_else(|err| panic!("no local address: {err}"))
            .port()
    })
}

/// Makes a test CA and a server certificate it signs (`cert.pem`/`key.pem`, for
/// `localhost` and 127.0.0.1), and returns the CA's PEM for clients to trust. A
/// self-signed certificate will not do: webpki refuses a CA certificate as a server's.
fn make_certificate(dir: &Path) -> String {
    let ext = dir.join("server.ext");
    fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap_or_else(|err| panic!("cannot write {}: {err}", ext.display()));
    let path = |name: &str| dir.join(name).display().to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=openmog test CA",
        "-keyout",
        &path("ca.key"),
        "-out",
        &path("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &path("key.pem"),
        "-out",
        &path("server.csr"),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &path("server.csr"),
        "-CA",
        &path("ca.pem"),
        "-CAkey",
        &path("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &path("server.ext"),
        "-out",
        &path("cert.pem"),
    ]);
    fs::read_to_string(dir.join("ca.pem"))
        .unwrap_or_else(|err| panic!("cannot read the CA certificate: {err}"))
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run openssl: {err}"));
    if !output.status.success() {
        panic!(
            "openssl {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Who owns what: the mail user and Dovecot's unprivileged service users.
struct Accounts {
    mail_uid: u32,
    mail_gid: u32,
    login_user: String,
    internal_user: String,
    internal_group: String,
}

/// Picks the accounts and lays out the users files and directories they need.
fn prepare_files(servers: &MailServers) -> Accounts {
    let dir = servers.dir();
    let owner = fs::metadata(dir).unwrap_or_else(|err| panic!("cannot stat {dir:?}: {err}"));
    let accounts = if owner.uid() == 0 {
        accounts_as_root()
    } else {
        accounts_as_user(owner.uid(), owner.gid())
    };
    let written = write_users(dir)
        .and_then(|()| fs::create_dir(dir.join("bridge")))
        .and_then(|()| fs::create_dir(dir.join("state")))
        .and_then(|()| fs::create_dir(dir.join("mail")))
        // Dovecot's auth process and the mail user must reach the passwd file and the homes.
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o755)))
        .and_then(|()| {
            std::os::unix::fs::chown(
                dir.join("mail"),
                Some(accounts.mail_uid),
                Some(accounts.mail_gid),
            )
        });
    written.unwrap_or_else(|err| panic!("cannot prepare {dir:?}: {err}"));
    accounts
}

/// As root: mail belongs to `nobody` (Dovecot refuses uid 0 for mail); Dovecot's processes run
/// as the users its Debian package creates, or `nobody` where they do not exist.
fn accounts_as_root() -> Accounts {
    let nobody = passwd_entry(|entry| entry.name == "nobody");
    let (mail_uid, mail_gid) = nobody.map_or((65534, 65534), |entry| (entry.uid, entry.gid));
    let user_or_nobody = |name: &str| {
        passwd_entry(|entry| entry.name == name).map_or_else(|| "nobody".to_owned(), |e| e.name)
    };
    let internal_user = user_or_nobody("dovecot");
    let internal_gid = passwd_entry(|entry| entry.name == internal_user).map(|entry| entry.gid);
    Accounts {
        mail_uid,
        mail_gid,
        login_user: user_or_nobody("dovenull"),
        internal_group: internal_gid
            .and_then(group_name)
            .unwrap_or_else(|| "nogroup".to_owned()),
        internal_user,
    }
}

/// As an ordinary user everything runs as that user: Dovecot cannot switch users anyway.
fn accounts_as_user(uid: u32, gid: u32) -> Accounts {
    let name = passwd_entry(|entry| entry.uid == uid)
        .map(|entry| entry.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| panic!("uid {uid} has no user name; Dovecot needs one"));
    Accounts {
        mail_uid: uid,
        mail_gid: gid,
        login_user: name.clone(),
        internal_group: group_name(gid).unwrap_or_else(|| name.clone()),
        internal_user: name,
    }
}

/// One line of /etc/passwd.
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

/// The first /etc/passwd entry matching `wanted`.
fn passwd_entry(wanted: impl Fn(&PasswdEntry) -> bool) -> Option<PasswdEntry> {
    let text = fs::read_to_string("/etc/passwd").ok()?;
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some(PasswdEntry {
                name: (*fields.first()?).to_owned(),
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
            })
        })
        .find(wanted)
}

/// The name of group `gid` in /etc/group.
fn group_name(gid: u32) -> Option<String> {
    let text = fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let matches = fields.get(2)?.parse::<u32>().ok()? == gid;
        matches.then(|| fields[0].to_owned())
    })
}

/// Every test user with its password: `passwd` for Dovecot, `users` for the bridge.
fn write_users(dir: &Path) -> std::io::Result<()> {
    let addresses = USERS
        .iter()
        .map(|local| format!("{local}@{DOMAIN}"))
        .chain([OUTSIDER.to_owned()]);
    let mut passwd = String::new();
    let mut users = String::new();
    for address in addresses {
        let local = address.split('@').next().unwrap_or(&address);
        passwd.push_str(&format!("{address}:{{PLAIN}}pw-{local}\n"));
        users.push_str(&format!("{address}:pw-{local}\n"));
    }
    fs::write(dir.join("passwd"), passwd)?;
    fs::write(dir.join("users"), users)
}

/// The whole Dovecot 2.3 configuration: nothing from /etc/dovecot is read.
fn dovecot_config(servers: &MailServers, accounts: &Accounts) -> String {
    let dir = servers.dir().display();
    let Accounts {
        mail_uid,
        mail_gid,
        login_user,
        internal_user,
        internal_group,
    } = accounts;
    let (imap, imaps, lmtp) = (servers.imap_port, servers.imaps_port, servers.lmtp_port);
    format!(
        r#"# Generated by openmog-email's testkit for one test run.
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = openmog-test
listen = 127.0.0.1
protocols = imap lmtp
log_path = {dir}/dovecot.log
auth_verbose = yes
# Failed logins are answered at once (well, within 0.5 s) instead of after 2 s.
auth_failure_delay = 0

default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = 1

ssl = yes
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Lu

recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
mail_location = maildir:~/Maildir
# IDLE learns of new mail by inotify; this is the fallback poll.
mailbox_idle_check_interval = 1 secs

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {dir}/passwd
}}
# Static userdb still asks the passdb whether a user exists, so LMTP rejects unknown ones.
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={dir}/mail/%Ld/%Ln
}}

# No chroot: it fails when not run as root and buys nothing in a test.
service anvil {{
  chroot =
  # No socket, no auth penalty: tests of wrong passwords must not slow each other down.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service ipc {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
"#
    )
}

/// Regular files in `dir`; 0 when it does not exist (yet).
fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
            .count()
    })
}

/// `raw` as DATA payload: CRLF line ends, leading dots doubled, the final `.` line appended.
fn dot_stuffed(raw: &[u8]) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = raw.split(|&byte| byte == b'\n').collect();
    if raw.ends_with(b"\n") {
        // split() yields an empty piece after the final line end.
        lines.pop();
    }
    let mut data = Vec::with_capacity(raw.len() + lines.len() + 8);
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b".") {
            data.push(b'.');
        }
        data.extend_from_slice(line);
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    data
}

/// A minimal LMTP client session for [`MailServers::deliver_raw`]; panics on any surprise.
struct Lmtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Lmtp {
    fn connect(port: u16) -> Self {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .unwrap_or_else(|err| panic!("cannot connect to LMTP on port {port}: {err}"));
        stream
            .set_read_timeout(Some(LMTP_TIMEOUT))
            .unwrap_or_else(|err| panic!("cannot set an LMTP timeout: {err}"));
        let writer = stream
            .try_clone()
            .unwrap_or_else(|err| panic!("cannot clone the LMTP stream: {err}"));
        Self {
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// Sends one command line and checks its reply code.
    fn command(&mut self, line: &str, code: u16) {
        self.send(format!("{line}\r\n").as_bytes());
        self.expect(code, line);
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer
            .write_all(bytes)
            .unwrap_or_else(|err| panic!("LMTP write failed: {err}"));
    }

    /// Reads one (possibly multi-line) reply and panics unless its code is `code`.
    fn expect(&mut self, code: u16, after: &str) {
        let reply = self.reply();
        if !reply.starts_with(&code.to_string()) {
            panic!("LMTP answered {after:?} with {reply:?}, expected {code}");
        }
    }

    /// A reply's lines joined; continuation lines have `-` after the code, the last a space.
    fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            let read = self
                .reader
                .read_line(&mut line)
                .unwrap_or_else(|err| panic!("LMTP read failed: {err}"));
            if read == 0 {
                panic!("LMTP closed the connection; reply so far: {reply:?}");
            }
            reply.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return reply;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::dot_stuffed;

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_ends_with_a_dot_line() {
        let data = dot_stuffed(b"a\n.b\r\n..c\nd");
        assert_eq!(data, b"a\r\n..b\r\n...c\r\nd\r\n.\r\n");
    }
}
