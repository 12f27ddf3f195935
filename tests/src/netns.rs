//! A small network lab for fault tests: Linux network namespaces joined by veth pairs to a
//! bridge in the root namespace. Needs root (CAP_NET_ADMIN), iproute2 and iptables; everything
//! is removed again when the lab is dropped.
//!
//! Impairments use what every kernel has: iptables `statistic` for random loss, a token bucket
//! (`tc tbf`) for rate caps, iptables DROP for outages. (`tc netem` would be the obvious tool,
//! but kernels without `sch_netem` — such as this project's CI VMs — refuse it.)
//!
//! Host `i` lives in namespace `ns(i)` with address `ip(i)`; the root namespace has
//! `bridge_ip()` on the bridge, so a server started in the test process is reachable from every
//! host. Loss and rate caps apply to what arrives at a host, so impairing every host impairs
//! each direction of every path once.

use std::process::Command;

/// A running lab.
pub struct NetLab {
    id: String,
    subnet: u8,
    hosts: usize,
    /// IPv6 only: hosts and bridge have IPv6 addresses and no IPv4 at all (not even
    /// loopback), like an App Store review network behind NAT64.
    v6: bool,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e} (is iproute2 installed?)", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetLab {
    /// Creates a lab with `hosts` namespaces. Panics with a clear message without root.
    pub fn create(hosts: usize) -> NetLab {
        Self::create_with(hosts, false)
    }

    /// Creates a lab whose hosts have only IPv6 addresses (ULA `fd53:<subnet>::/64`), no
    /// IPv4 address on any interface, loopback included.
    pub fn create_ipv6_only(hosts: usize) -> NetLab {
        Self::create_with(hosts, true)
    }

    fn create_with(hosts: usize, v6: bool) -> NetLab {
        let lab = NetLab {
            id: format!("{:04x}", rand_u16()),
            subnet: (rand_u16() % 200 + 20) as u8,
            hosts,
            v6,
        };
        if let Err(e) = lab.build() {
            panic!(
                "cannot build the network lab ({e}); these tests need root (CAP_NET_ADMIN) and iproute2"
            );
        }
        lab
    }

    fn bridge(&self) -> String {
        format!("sb{}", self.id)
    }

    /// Namespace of host `i`.
    pub fn ns(&self, i: usize) -> String {
        format!("samtale-{}-{i}", self.id)
    }

    /// Address of host `i`.
    pub fn ip(&self, i: usize) -> String {
        if self.v6 {
            format!("fd53:{:x}::{:x}", self.subnet, 0x10 + i)
        } else {
            format!("10.213.{}.{}", self.subnet, 10 + i)
        }
    }

    /// Address of the root namespace on the bridge.
    pub fn bridge_ip(&self) -> String {
        if self.v6 {
            format!("fd53:{:x}::1", self.subnet)
        } else {
            format!("10.213.{}.1", self.subnet)
        }
    }

    /// `/24` or `/64`, and `nodad` for IPv6 (no 1-2 s of duplicate-address detection).
    fn prefix(&self) -> (&'static str, &'static [&'static str]) {
        if self.v6 {
            ("64", &["nodad"])
        } else {
            ("24", &[])
        }
    }

    fn build(&self) -> Result<(), String> {
        let br = self.bridge();
        let (prefix, flags) = self.prefix();
        run(&["ip", "link", "add", &br, "type", "bridge"])?;
        let bridge_addr = format!("{}/{prefix}", self.bridge_ip());
        let mut args = vec![
            "ip",
            "addr",
            "add",
            bridge_addr.as_str(),
            "dev",
            br.as_str(),
        ];
        args.extend_from_slice(flags);
        run(&args)?;
        run(&["ip", "link", "set", &br, "up"])?;
        for i in 0..self.hosts {
            let ns = self.ns(i);
            let outer = format!("sv{}{i}", self.id);
            run(&["ip", "netns", "add", &ns])?;
            run(&[
                "ip", "link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            run(&["ip", "link", "set", &outer, "master", &br])?;
            run(&["ip", "link", "set", &outer, "up"])?;
            let inside = |args: &[&str]| {
                let mut full = vec!["ip", "netns", "exec", ns.as_str()];
                full.extend_from_slice(args);
                run(&full)
            };
            inside(&["ip", "link", "set", "lo", "up"])?;
            let addr = format!("{}/{prefix}", self.ip(i));
            let mut args = vec!["ip", "addr", "add", addr.as_str(), "dev", "eth0"];
            args.extend_from_slice(flags);
            inside(&args)?;
            if self.v6 {
                inside(&["ip", "addr", "del", "127.0.0.1/8", "dev", "lo"])?;
            }
            inside(&["ip", "link", "set", "eth0", "up"])?;
        }
        // Bridged traffic must not be filtered by the host's firewall, if it has one.
        let _ = run(&["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0"]);
        Ok(())
    }

    /// Drops `percent` % of the packets arriving at host `i` at random (iptables `statistic`
    /// on INPUT: dropping on OUTPUT would fail the sender's `sendto()` with EPERM, which real
    /// loss never does).
    pub fn loss(&self, i: usize, percent: f64) {
        let ns = self.ns(i);
        let p = format!("{:.4}", percent / 100.0);
        let args = [
            "ip",
            "netns",
            "exec",
            &ns,
            "iptables",
            "-A",
            "INPUT",
            "-i",
            "eth0",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            &p,
            "-j",
            "DROP",
        ];
        if let Err(e) = run(&args) {
            panic!("cannot set loss on host {i}: {e}");
        }
    }

    /// Drops the first `count` DTLS ServerHellos that arrive at host `i` (and nothing else):
    /// lost datagrams of the DTLS server's flight 4, the loss that stalled handshakes in
    /// webrtc-rs 0.21.1 (issue 21). The u32 expression finds a UDP payload that starts with a
    /// handshake record (type 22) whose message is a ServerHello (type 2).
    pub fn drop_first_server_hellos(&self, i: usize, count: usize) {
        self.drop_first_udp(
            i,
            count,
            "0>>22&0x3C@8>>24=0x16 && 0>>22&0x3C@20>>16&0xFF=0x02",
        );
    }

    /// Drops the first `count` datagrams arriving at host `i` that start with a DTLS
    /// ChangeCipherSpec record (type 20): the DTLS server's last flight (ChangeCipherSpec and
    /// the encrypted Finished travel in one datagram in webrtc-rs 0.21.1).
    pub fn drop_first_last_flights(&self, i: usize, count: usize) {
        self.drop_first_udp(i, count, "0>>22&0x3C@8>>24=0x14");
    }

    /// One iptables rule per drop: `statistic` in nth mode lets a rule drop only the first
    /// datagram it sees that matches `u32` (iptables' u32 match on the IPv4 packet).
    fn drop_first_udp(&self, i: usize, count: usize, u32: &str) {
        let ns = self.ns(i);
        for _ in 0..count {
            let args = [
                "ip",
                "netns",
                "exec",
                &ns,
                "iptables",
                "-A",
                "INPUT",
                "-i",
                "eth0",
                "-p",
                "udp",
                "-m",
                "u32",
                "--u32",
                u32,
                "-m",
                "statistic",
                "--mode",
                "nth",
                "--every",
                "1000000",
                "--packet",
                "0",
                "-j",
                "DROP",
            ];
            if let Err(e) = run(&args) {
                panic!("cannot add a drop rule at host {i}: {e}");
            }
        }
    }

    /// Packets host `i`'s INPUT rules dropped so far (iptables counters).
    pub fn dropped(&self, i: usize) -> u64 {
        let ns = self.ns(i);
        let out = std::process::Command::new("ip")
            .args([
                "netns", "exec", &ns, "iptables", "-L", "INPUT", "-v", "-n", "-x",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.lines()
            .filter(|l| l.contains("DROP"))
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }

    /// Caps the traffic towards host `i` at `kbit` kbit/s with a queue of `queue_ms` (token
    /// bucket on the bridge side of its link). Shaping there, not in the sender's own namespace,
    /// matters: a full queue in the sender's kernel pushes back into its socket, while a real
    /// bottleneck drops.
    pub fn rate(&self, i: usize, kbit: u32, queue_ms: u32) {
        let outer = format!("sv{}{i}", self.id);
        let (rate, latency) = (format!("{kbit}kbit"), format!("{queue_ms}ms"));
        let args = [
            "tc", "qdisc", "replace", "dev", &outer, "root", "tbf", "rate", &rate, "burst", "4kb",
            "latency", &latency,
        ];
        if let Err(e) = run(&args) {
            panic!("cannot cap host {i}: {e}");
        }
    }

    /// Drops (or stops dropping) everything arriving at host `i`: an outage as seen from it.
    pub fn outage(&self, i: usize, down: bool) {
        let ns = self.ns(i);
        let op = if down { "-I" } else { "-D" };
        let args = [
            "ip", "netns", "exec", &ns, "iptables", op, "INPUT", "-i", "eth0", "-j", "DROP",
        ];
        if let Err(e) = run(&args) {
            panic!("cannot change the outage of host {i}: {e}");
        }
    }

    /// Pulls (or plugs back) host `i`'s cable at the switch: nothing passes its bridge port in
    /// either direction, and its own sends still succeed, as on a real dead path (ebtables on
    /// the bridge port).
    pub fn unplug(&self, i: usize, unplugged: bool) {
        self.port_rules(i, unplugged, &[]);
    }

    /// Blocks (or unblocks) every UDP packet to and from host `i` at its bridge port, as a
    /// firewall that only lets TCP through does.
    pub fn block_udp(&self, i: usize, blocked: bool) {
        self.port_rules(i, blocked, &["-p", "IPv4", "--ip-proto", "udp"]);
    }

    fn port_rules(&self, i: usize, add: bool, matching: &[&str]) {
        let port = format!("sv{}{i}", self.id);
        let op = if add { "-A" } else { "-D" };
        for (chain, dir) in [
            ("FORWARD", "-i"),
            ("FORWARD", "-o"),
            ("INPUT", "-i"),
            ("OUTPUT", "-o"),
        ] {
            let mut args = vec!["ebtables", op, chain, dir, port.as_str()];
            args.extend_from_slice(matching);
            args.extend_from_slice(&["-j", "DROP"]);
            if let Err(e) = run(&args) {
                panic!("cannot change the rules of host {i}'s port (is ebtables installed?): {e}");
            }
        }
    }

    /// Gives host `i` a new address (`alt_ip(i)`) and removes its old one, as a phone that
    /// moves to another network does. Returns the new address.
    pub fn move_host(&self, i: usize) -> String {
        self.readdress(i, &self.ip(i), &self.alt_ip(i))
    }

    /// Gives host `i` its original address back (after [`NetLab::move_host`]).
    pub fn move_host_back(&self, i: usize) -> String {
        self.readdress(i, &self.alt_ip(i), &self.ip(i))
    }

    fn readdress(&self, i: usize, old: &str, new: &str) -> String {
        let ns = self.ns(i);
        let inside = |args: &[&str]| {
            let mut full = vec!["ip", "netns", "exec", ns.as_str()];
            full.extend_from_slice(args);
            if let Err(e) = run(&full) {
                panic!("cannot change host {i}'s address: {e}");
            }
        };
        // Without promotion, deleting the primary address deletes the new one with it.
        inside(&["sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=1"]);
        inside(&["ip", "addr", "add", &format!("{new}/24"), "dev", "eth0"]);
        inside(&["ip", "addr", "del", &format!("{old}/24"), "dev", "eth0"]);
        new.to_owned()
    }

    /// Delays (`delay_ms` ± `jitter_ms`, normal, never reordered) and drops (`loss_pct` %) what
    /// leaves host `i`, in userspace through NFQUEUE (`bench/impair.py`, Python standard library
    /// only) because kernels without `sch_netem` cannot do it in `tc`. Ends when dropped.
    pub fn impair(&self, i: usize, delay_ms: u32, jitter_ms: u32, loss_pct: f64) -> Impairment {
        let ns = self.ns(i);
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/impair.py");
        let ready = std::env::temp_dir().join(format!("samtale-impair-{}-{i}.ready", self.id));
        let _ = std::fs::remove_file(&ready);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns, "python3", script, "--queue", "0"])
            .args([
                "--delay-ms",
                &delay_ms.to_string(),
                "--jitter-ms",
                &jitter_ms.to_string(),
            ])
            .args(["--loss-pct", &loss_pct.to_string()])
            .arg("--ready-file")
            .arg(&ready)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start bench/impair.py (python3): {e}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !ready.exists() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("bench/impair.py ended at start: {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "bench/impair.py did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(&ready);
        // Only now divert the traffic: without a listener queued packets would be dropped.
        let rule = ["-o", "eth0", "-j", "NFQUEUE", "--queue-num", "0"];
        let mut args = vec!["ip", "netns", "exec", &ns, "iptables", "-A", "OUTPUT"];
        args.extend_from_slice(&rule);
        if let Err(e) = run(&args) {
            let _ = child.kill();
            panic!("cannot divert host {i}'s traffic: {e}");
        }
        Impairment { ns, child }
    }

    /// The address [`NetLab::move_host`] gives host `i`.
    pub fn alt_ip(&self, i: usize) -> String {
        format!("10.213.{}.{}", self.subnet, 100 + i)
    }

    /// Removes every impairment of host `i`.
    pub fn clear(&self, i: usize) {
        let ns = self.ns(i);
        let _ = run(&[
            "tc",
            "qdisc",
            "del",
            "dev",
            &format!("sv{}{i}", self.id),
            "root",
        ]);
        let _ = run(&["ip", "netns", "exec", &ns, "iptables", "-F"]);
    }

    /// A server in the test process, on the bridge (reachable from every host), with its
    /// database in `dir` and, with `turn`, TURN credentials in its tickets.
    pub async fn start_server(
        &self,
        dir: &tempfile::TempDir,
        staff_token: &str,
        turn: Option<samtale_server::TurnConfig>,
    ) -> samtale_server::RunningServer {
        let config = samtale_server::ServerConfig {
            listen: std::net::SocketAddr::new(self.bridge_ip().parse().expect("ip"), 0),
            db_path: dir
                .path()
                .join("samtale.sqlite")
                .to_string_lossy()
                .into_owned(),
            staff_token: staff_token.to_owned(),
            turn,
            ..Default::default()
        };
        samtale_server::start(config).await.expect("server")
    }

    /// A command that runs `program` inside host `i`'s namespace.
    pub fn command(&self, i: usize, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(i), program]);
        cmd
    }
}

/// A running [`NetLab::impair`]; dropping it restores the path.
pub struct Impairment {
    ns: String,
    child: std::process::Child,
}

impl Drop for Impairment {
    fn drop(&mut self) {
        let _ = run(&[
            "ip",
            "netns",
            "exec",
            &self.ns,
            "iptables",
            "-D",
            "OUTPUT",
            "-o",
            "eth0",
            "-j",
            "NFQUEUE",
            "--queue-num",
            "0",
        ]);
        // SIGTERM: it releases what it still holds, then exits.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for i in 0..self.hosts {
            // Rules on the bridge ports live in the root namespace: remove ours.
            let port = format!("sv{}{i}", self.id);
            for chain in ["FORWARD", "INPUT", "OUTPUT"] {
                if let Ok(out) = Command::new("ebtables").args(["-L", chain]).output() {
                    for rule in String::from_utf8_lossy(&out.stdout).lines() {
                        if rule.contains(&port) {
                            let mut args = vec!["ebtables", "-D", chain];
                            args.extend(rule.split_whitespace());
                            let _ = run(&args);
                        }
                    }
                }
            }
            let _ = run(&["ip", "netns", "del", &self.ns(i)]);
        }
        let _ = run(&["ip", "link", "del", &self.bridge()]);
    }
}

fn rand_u16() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u16
}
