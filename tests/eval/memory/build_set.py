#!/usr/bin/env python3
"""Builds the memory retrieval evaluation set (docs.jsonl, queries.jsonl) in this directory.

Run once by a developer; its output is committed and versioned (VERSION). The man-page
chunks are taken from this machine's installed pages (`man`, MANWIDTH=80, `col -b`), so a
rerun on another machine may differ: the committed files are the set, this script is how
they were made.

Three kinds of document, as memoryd stores them:
- `message`: a conversation turn (user or assistant) from a synthetic shell history;
- `tool_call`: a tool call with its arguments and output;
- `man`: a chunk of a man page, headed `name(section): ` as memoryd's docs chunker does.

Relevance is graded: 2 = the document that answers, 1 = a document of the same exchange or
the same page that helps. Query `style`: `paraphrase` (few or no words shared with the
answer: vectors should find it, BM25 may not) or `exact` (a rare literal token such as an
error string, a file name or an id: BM25 should find it, vectors may not).
"""

import json
import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = 2
T0 = 1_795_000_000_000  # ms: the synthetic history's first turn
CHUNK = 1500

# (user turn, tool call "tool args => output", assistant turn, [(query, style, answer)])
# answer: "tool" or "assistant" (grade 2); the other two documents of the exchange get grade 1.
EXCHANGES = [
    ("why is / at 97% already?",
     "shell.run du -xh / --max-depth=1 | sort -h => 1.1G /usr\n2.3G /home\n14G /var\n# /var/log/journal 13.6G",
     "The systemd journal in /var/log/journal had grown to 13.6G. I ran journalctl --vacuum-size=500M and set SystemMaxUse=500M in journald.conf; / is at 41% now.",
     [("what was eating all the storage space on the root drive", "paraphrase", "assistant"),
      ("SystemMaxUse journald.conf", "exact", "assistant")]),
    ("the shop site returns 502 bad gateway",
     "shell.run journalctl -u nginx -n 20 => connect() to unix:/run/php/php8.2-fpm.sock failed (2: No such file or directory) while connecting to upstream",
     "nginx could not reach PHP: the php8.2-fpm service had stopped after the upgrade. I restarted it and enabled it at boot; the site answers 200 again.",
     [("php8.2-fpm.sock", "exact", "tool"),
      ("why did the online store show an error page from the proxy", "paraphrase", "assistant")]),
    ("turn off password logins for ssh, keys only",
     "fs.edit /etc/ssh/sshd_config => -#PasswordAuthentication yes\n+PasswordAuthentication no\n+KbdInteractiveAuthentication no",
     "Password authentication is disabled in sshd_config and sshd was reloaded. Your key still works; test a second session before closing this one.",
     [("PasswordAuthentication", "exact", "tool"),
      ("only allow key based remote shell access", "paraphrase", "assistant")]),
    ("let's settle the backup job: restic to the NAS every night",
     "fs.write /etc/systemd/system/restic-backup.timer => OnCalendar=*-*-* 02:30:00\nPersistent=true",
     "Decided: restic backs up /etc, /home and /srv to nas.lan at 02:30 every night, keeping 7 daily, 4 weekly and 6 monthly snapshots (forget --prune after each run).",
     [("what did we agree about the nightly backup schedule and retention", "paraphrase", "assistant"),
      ("restic-backup.timer", "exact", "tool")]),
    ("what runs from cron on this box?",
     "shell.run crontab -l => 0 3 * * * /usr/local/bin/rotate-certs.sh\n*/5 * * * * /usr/local/bin/healthcheck --quiet",
     "Two jobs: the certificate rotation script at 03:00 daily and a health check every five minutes.",
     [("rotate-certs.sh", "exact", "tool")]),
    ("the build server keeps dying overnight",
     "shell.run dmesg -T | tail => [Tue Nov 17 02:14:09 2026] Out of memory: Killed process 4121 (java) total-vm:9132044kB, anon-rss:7712340kB",
     "The kernel's OOM killer ended the Java build (7.7 GB resident). Limiting the JVM with -Xmx4g or adding swap would stop it.",
     [("which program did the kernel terminate for lack of RAM", "paraphrase", "tool")]),
    ("vite says the port is taken",
     "shell.run ss -ltnp => LISTEN 0 511 0.0.0.0:8080 0.0.0.0:* users:((\"node\",pid=2231,fd=19))",
     "An older node process (pid 2231) still holds 8080. I stopped it; the dev server starts now.",
     [("who was holding the socket the frontend dev server wanted", "paraphrase", "assistant")]),
    ("clean up docker, the disk is filling",
     "shell.run docker system prune -a -f => Deleted Images: ... Total reclaimed space: 23.4GB",
     "Pruned unused images, stopped containers and build cache: 23.4GB reclaimed.",
     [("how much room did clearing out old container images free up", "paraphrase", "tool")]),
    ("when does the certificate for example.org expire?",
     "shell.run openssl x509 -enddate -noout -in /etc/letsencrypt/live/example.org/cert.pem => notAfter=Jan 14 08:12:03 2027 GMT",
     "It is valid until 14 January 2027; certbot's timer renews it 30 days before.",
     [("when does the website's TLS certificate run out", "paraphrase", "assistant")]),
    ("the clock is two minutes off",
     "shell.run timedatectl => System clock synchronized: no\nNTP service: inactive",
     "Time sync was off. I enabled systemd-timesyncd (timedatectl set-ntp true); the clock is synchronized now.",
     [("the system time kept drifting, how did we fix it", "paraphrase", "assistant")]),
    ("add an account for alice, she needs sudo",
     "shell.run useradd -m -s /bin/bash -G sudo alice => (no output, exit 0)",
     "Created user alice with a home directory, bash and membership of the sudo group. She sets her password at first login (passwd -e).",
     [("create a login for the new colleague with administrator rights", "paraphrase", "assistant")]),
    ("open the firewall for wireguard",
     "shell.run ufw allow 51820/udp => Rule added\nRule added (v6)",
     "UDP 51820 is open for WireGuard on IPv4 and IPv6.",
     [("51820", "exact", "tool")]),
    ("install the pending updates",
     "shell.run apt-get -y upgrade => The following packages will be upgraded: linux-image-6.12.48+deb13-amd64 openssl libssl3t64 ...\n42 upgraded, 0 newly installed",
     "42 packages upgraded, including kernel 6.12.48; a reboot is needed to run it.",
     [("linux-image-6.12.48", "exact", "tool")]),
    ("something failed at boot",
     "shell.run systemctl --failed => postgresql@16-main.service loaded failed failed PostgreSQL Cluster 16-main",
     "The PostgreSQL 16 cluster failed: its data directory was owned by root after the restore. chown -R postgres: fixed it and the cluster is running.",
     [("postgresql@16-main", "exact", "tool"),
      ("why wouldn't the database come up after restoring it", "paraphrase", "assistant")]),
    ("booting takes forever",
     "shell.run systemd-analyze blame => 32.107s NetworkManager-wait-online.service\n4.210s apt-daily.service",
     "NetworkManager-wait-online waited 32 s for a network nothing needed at boot; I disabled it and startup takes 9 s.",
     [("why does the computer take so long to start up", "paraphrase", "assistant")]),
    ("set up log rotation for myapp",
     "fs.write /etc/logrotate.d/myapp => /var/log/myapp/*.log {\n  daily\n  rotate 14\n  compress\n  missingok\n}",
     "myapp's logs rotate daily and the last 14 are kept, compressed.",
     [("how long do we keep the application's old logs around", "paraphrase", "assistant")]),
    ("I reset my branch and lost two commits",
     "shell.run git reflog -n 5 => a1c9e02 HEAD@{0}: reset: moving to origin/main\n7f3b2d1 HEAD@{1}: commit: parser: handle empty input",
     "The commits are still in the reflog: git reset --hard 7f3b2d1 brings them back.",
     [("recover the work I threw away by accident in version control", "paraphrase", "assistant")]),
    ("add 4G of swap",
     "shell.run fallocate -l 4G /swapfile && chmod 600 /swapfile && mkswap /swapfile && swapon /swapfile => Setting up swapspace version 1, size = 4 GiB",
     "A 4 GiB /swapfile is active and listed in /etc/fstab, so it survives a reboot.",
     [("add more virtual memory backed by a file on disk", "paraphrase", "assistant")]),
    ("apt update fails",
     "shell.run ping -c1 deb.debian.org => ping: deb.debian.org: Temporary failure in name resolution",
     "DNS was broken: resolv.conf pointed at a router that was replaced. I set the resolver to 192.168.1.1 in systemd-resolved.",
     [("Temporary failure in name resolution", "exact", "tool")]),
    ("only the app should read its secrets file",
     "shell.run chmod 640 /etc/app/secret.env && chown root:app /etc/app/secret.env => (no output, exit 0)",
     "secret.env is now root:app, mode 640: root writes it, the app group reads it, nobody else can.",
     [("lock down who can see the credentials file", "paraphrase", "assistant")]),
    ("pip install requests fails",
     "shell.run pip install requests => error: externally-managed-environment\nThis environment is externally managed",
     "Debian's Python refuses system-wide pip installs. Use a virtual environment (python3 -m venv .venv) or apt install python3-requests.",
     [("externally-managed-environment", "exact", "tool")]),
    ("why did you edit /etc/hosts yesterday?",
     "audit.show 4f2a9c => audit#4f2a9c fs.write /etc/hosts (+10.0.0.12 db.internal) approved by uid 1000, session s-311",
     "Entry 4f2a9c: you asked to reach the database by name, so I added db.internal to /etc/hosts with your approval.",
     [("4f2a9c", "exact", "tool")]),
    ("find big files, the home partition is full",
     "shell.run find /home -xdev -size +1G -printf '%s %p\\n' => 6227020800 /home/bob/Downloads/ubuntu-24.04-desktop-amd64.iso",
     "The largest is a 5.8 GB installer image in bob's Downloads; nothing else above 1 GB.",
     [("huge downloads sitting in someone's home folder", "paraphrase", "assistant")]),
    ("the fan is loud",
     "shell.run top -b -n1 | head -12 => PID USER %CPU COMMAND\n9921 bob 398.0 ffmpeg",
     "ffmpeg (bob's video transcode) uses all four cores; it will finish in about ten minutes. renice +10 would make it yield.",
     [("what was maxing out the processor", "paraphrase", "assistant")]),
    ("check the disk health",
     "shell.run smartctl -A /dev/sda => 5 Reallocated_Sector_Ct 0x0033 100 100 010 Pre-fail Always - 112",
     "112 reallocated sectors and growing: replace this drive soon and check the backups first.",
     [("is the hard drive about to fail", "paraphrase", "assistant"),
      ("Reallocated_Sector_Ct", "exact", "tool")]),
    ("rename this machine",
     "shell.run hostnamectl set-hostname web-02 => (no output, exit 0)",
     "The hostname is web-02; I also updated the 127.0.1.1 line in /etc/hosts.",
     [("web-02", "exact", "assistant")]),
    ("mount the NAS backup share at boot",
     "fs.edit /etc/fstab => +nas.lan:/export/backup /mnt/backup nfs defaults,_netdev 0 0",
     "The NFS export is in fstab with _netdev, so it mounts once the network is up.",
     [("attach the network share automatically when the system starts", "paraphrase", "assistant")]),
    ("where is the shop's nginx config?",
     "shell.run nginx -T | grep 'configuration file' => # configuration file /etc/nginx/sites-enabled/shop.conf:",
     "Fact: the shop's nginx configuration lives in /etc/nginx/sites-enabled/shop.conf (included from nginx.conf).",
     [("where is the web server's site configuration for the store", "paraphrase", "assistant")]),
    ("go isn't found after installing it",
     "shell.run echo $PATH => /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
     "/usr/local/go/bin was not on PATH; I added it in /etc/profile.d/go.sh. Open a new shell.",
     [("go/bin PATH profile.d", "exact", "assistant")]),
    ("perl complains about locales on every login",
     "shell.run perl -e1 => perl: warning: Setting locale failed.\nLC_ALL = \"en_US.UTF-8\" are supported and installed on your system.",
     "en_US.UTF-8 was not generated. I enabled it in /etc/locale.gen and ran locale-gen.",
     [("Setting locale failed", "exact", "tool")]),
]

# Routine exchanges, to fill the history out like a real one (no query targets them).
FILLER_SERVICES = ["nginx", "postgresql", "redis-server", "docker", "cron", "ssh", "fail2ban",
                   "grafana-server", "prometheus", "containerd", "cups", "bluetooth"]
FILLER_PACKAGES = ["htop", "jq", "ripgrep", "tmux", "git", "curl", "unzip", "tree", "ncdu",
                   "python3-venv", "build-essential", "strace"]


def filler():
    out = []
    for i, s in enumerate(FILLER_SERVICES):
        out.append((f"is {s} running?",
                    f"shell.run systemctl status {s} => {s}.service - loaded (enabled)\n  Active: active (running) since Mon 2026-11-{10 + i:02d} 08:{i:02d}:11 UTC",
                    f"{s} is active and enabled at boot."))
        out.append((f"restart {s}",
                    f"shell.run systemctl restart {s} => (no output, exit 0)",
                    f"{s} restarted cleanly; no errors in its journal since."))
    for i, p in enumerate(FILLER_PACKAGES):
        out.append((f"install {p}",
                    f"shell.run apt-get install -y {p} => Setting up {p} ({i + 1}.{i % 4}.{i % 7}-1) ...",
                    f"{p} is installed."))
    return out


def man_chunks(page):
    name, section = page.rsplit(".", 1)
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0")
    raw = subprocess.run(["man", section, name], capture_output=True, text=True, env=env, check=True).stdout
    text = subprocess.run(["col", "-b"], input=raw, capture_output=True, text=True, check=True).stdout
    summary = ""
    m = re.search(r"NAME\s*\n\s+(.+)", text)
    if m:
        summary = " ".join(m.group(1).split())
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    paras = [p for p in paras if p and not re.match(r"^[A-Z]+\(\d\w*\)\s", p)]
    head = f"{name}({section}): {summary}\n"
    chunks, cur = [], ""
    for p in paras:
        if cur and len(cur) + len(p) > CHUNK:
            chunks.append(head + cur)
            cur = ""
        cur = (cur + "\n" + p) if cur else p
        while len(cur) > CHUNK * 2:
            chunks.append(head + cur[:CHUNK])
            cur = cur[CHUNK:]
    if cur:
        chunks.append(head + cur)
    return chunks


# (query, style, page, regex the answering chunk contains)
MAN_QUERIES = [
    ("make a file impossible to modify or delete, even for root", "paraphrase", "chattr.1", r"\bi\b.*immutable|immutable"),
    ("search for a word in every file under a directory, ignoring upper and lower case", "paraphrase", "grep.1", r"--recursive|--ignore-case"),
    ("print only the lines that don't contain the pattern", "paraphrase", "grep.1", r"--invert-match"),
    ("list a directory with the newest files first", "paraphrase", "ls.1", r"-t\b.*time|sort by time"),
    ("keep watching the end of a log as new lines are written", "paraphrase", "tail.1", r"--follow"),
    ("unpack a compressed tarball", "paraphrase", "tar.1", r"--extract|--gzip|-z\b"),
    ("give files to another user including everything inside subdirectories", "paraphrase", "chown.1", r"--recursive"),
    ("run a job every Monday at a fixed time", "paraphrase", "crontab.5", r"day of week"),
    ("tunnel a local port to a remote server over an encrypted connection", "paraphrase", "ssh.1", r"-L \[?bind_address|LocalForward|-L "),
    ("start a program with lower scheduling priority", "paraphrase", "nice.1", r"niceness"),
    ("change the priority of a process that is already running", "paraphrase", "renice.1", r"priority"),
    ("read the messages the kernel logged during startup", "paraphrase", "dmesg.1", r"kernel ring buffer"),
    ("--max-depth", "exact", "du.1", r"--max-depth"),
    ("show which lines differ between two files", "paraphrase", "diff.1", r"compare files line by line|line by line"),
    ("count how many lines a file has", "paraphrase", "wc.1", r"--lines|newline counts"),
    ("make a shortcut that points to another file", "paraphrase", "ln.1", r"--symbolic"),
    ("order numbers from largest to smallest", "paraphrase", "sort.1", r"--numeric-sort|--reverse"),
    ("how much RAM is in use and how much is available", "paraphrase", "free.1", r"available|used memory"),
    ("set read write execute bits with numbers like 755", "paraphrase", "chmod.1", r"octal|numeric mode"),
    ("--null", "exact", "xargs.1", r"--null"),
    ("how full is each mounted filesystem", "paraphrase", "df.1", r"space available on the file system"),
    ("duplicate a whole folder while preserving timestamps and permissions", "paraphrase", "cp.1", r"--archive|--preserve"),
    ("delete a directory and everything in it", "paraphrase", "rm.1", r"--recursive"),
    ("--bytes", "exact", "head.1", r"--bytes"),
    ("show the network interfaces and their addresses", "paraphrase", "ip.8", r"\baddress\b|addr"),
    ("SIGKILL", "exact", "kill.1", r"SIGKILL|KILL"),
    ("swap priority", "exact", "swapon.8", r"--priority|priority"),
    ("_netdev", "exact", "fstab.5", r"_netdev|nofail|mount options"),
    ("change the machine's name permanently", "paraphrase", "hostnamectl.1", r"set-hostname|static"),
    ("replace every occurrence of a word in a stream of text", "paraphrase", "sed.1", r"s/regexp/replacement/|substitute"),
    ("translate lowercase letters to uppercase", "paraphrase", "tr.1", r"\[:lower:\]|\[:upper:\]"),
    ("conv=fsync", "exact", "dd.1", r"fsync"),
]

MAN_PAGES = ["chattr.1", "grep.1", "ls.1", "tail.1", "tar.1", "chown.1", "crontab.5", "ssh.1", "nice.1",
             "renice.1", "dmesg.1", "du.1", "kill.1", "diff.1", "wc.1", "ln.1", "sort.1", "free.1", "chmod.1",
             "xargs.1", "df.1", "cp.1", "rm.1", "head.1", "ip.8", "swapon.8", "fstab.5", "hostnamectl.1",
             "tr.1", "sed.1", "dd.1", "mv.1", "touch.1", "mkdir.1", "stat.1"]


# Set version 2 (issue 11: at least 100 queries): hand-written queries graded by document
# id, appended after the generated ones (q068 on). The judgments were written from the
# documents' text before any system ranked these queries; they are never edited to
# improve a number. Grades as above; for a man page, 1 marks only the chunks that help
# (the synopsis naming the option, a neighbouring chunk that explains it), and a
# history exchange may be relevant to a man-page query and the reverse.
V2_QUERIES = [
    # synthetic history
    ("how many packages did the last system upgrade touch, and is a restart required", "paraphrase",
     {"d0108": 1, "d0109": 1, "d0110": 2}),
    ("OnCalendar", "exact", {"d0027": 1, "d0028": 2, "d0029": 1}),
    ("ufw allow", "exact", {"d0099": 1, "d0100": 2, "d0101": 1}),
    ("pid=2231", "exact", {"d0054": 1, "d0055": 2, "d0056": 1}),
    ("how do we keep the JVM from being killed again", "paraphrase",
     {"d0045": 1, "d0046": 1, "d0047": 2}),
    ("-Xmx4g", "exact", {"d0045": 1, "d0046": 1, "d0047": 2}),
    ("git reflog", "exact", {"d0144": 1, "d0145": 2, "d0146": 1}),
    ("timedatectl set-ntp", "exact", {"d0081": 1, "d0082": 1, "d0083": 2}),
    ("nas.lan", "exact",
     {"d0027": 1, "d0028": 1, "d0029": 2, "d0186": 1, "d0187": 2, "d0188": 1}),
    ("why did looking up host names stop working", "paraphrase",
     {"d0162": 1, "d0163": 1, "d0164": 2}),
    ("notAfter", "exact", {"d0072": 1, "d0073": 2, "d0074": 1}),
    ("is the web server up and does it start at boot", "paraphrase",
     {"d0003": 1, "d0004": 1, "d0005": 2}),
    ("did redis come back without errors after the restart", "paraphrase",
     {"d0024": 1, "d0025": 1, "d0026": 2}),
    ("python3-venv", "exact", {"d0150": 1, "d0151": 2, "d0152": 1, "d0170": 1}),
    ("make the new account choose its own password on first sign-in", "paraphrase",
     {"d0090": 1, "d0091": 1, "d0092": 2}),
    ("why was the hosts file changed and who approved it", "paraphrase",
     {"d0171": 1, "d0172": 2, "d0173": 2}),
    ("which disk needs replacing soon", "paraphrase", {"d0180": 1, "d0181": 1, "d0182": 2}),
    ("NetworkManager-wait-online", "exact", {"d0126": 1, "d0127": 2, "d0128": 2}),
    ("make the video encoding yield the processor to other programs", "paraphrase",
     {"d0177": 1, "d0178": 1, "d0179": 2, "d0299": 1}),
    ("where did we put Go on the PATH", "paraphrase", {"d0192": 1, "d0193": 1, "d0194": 2}),
    # man pages
    ("create a nested directory path, parents included, without an error if it exists",
     "paraphrase", {"d0387": 2}),
    ("set a file's timestamp to a particular date instead of now", "paraphrase",
     {"d0385": 2, "d0386": 2}),
    ("show the inode number of a file", "paraphrase", {"d0388": 1, "d0389": 2, "d0390": 1}),
    ("reach a server behind a bastion host in one ssh command", "paraphrase",
     {"d0266": 1, "d0271": 2, "d0274": 1}),
    ("--exclude=PATTERN", "exact",
     {"d0249": 2, "d0308": 2, "d0309": 1, "d0213": 1, "d0313": 1}),
    ("list what is inside an archive without unpacking it", "paraphrase",
     {"d0233": 1, "d0237": 2}),
    ("--xz", "exact", {"d0248": 2}),
    ("run up to four jobs at the same time from a list of inputs", "paraphrase",
     {"d0335": 2, "d0336": 1}),
    ("rename a file but never overwrite one that already exists", "paraphrase",
     {"d0383": 2, "d0384": 1}),
    ("let everyone write in a shared directory but only delete their own files", "paraphrase",
     {"d0328": 1, "d0330": 2}),
    ("print the first twenty lines of a file", "paraphrase", {"d0351": 2}),
    ("--word-regexp", "exact", {"d0207": 2}),
    ("which private key file ssh should use to log in", "paraphrase",
     {"d0266": 1, "d0270": 2, "d0281": 1, "d0282": 1}),
    ("kernel log with readable wall-clock times instead of seconds since boot", "paraphrase",
     {"d0301": 1, "d0304": 2, "d0305": 1}),
    ("list the names of all signals", "paraphrase", {"d0310": 2, "d0311": 2}),
    ("allow a log file only to be appended to, never rewritten", "paraphrase",
     {"d0198": 1, "d0199": 2}),
    ("status=progress", "exact", {"d0380": 2}),
    ("make swap on an SSD issue TRIM", "paraphrase", {"d0358": 2, "d0359": 1}),
    ("--in-place", "exact", {"d0373": 2}),
]


def main():
    docs, queries = [], []
    t = T0

    def add(text, kind, session, extra=None):
        nonlocal t
        t += 37_000
        d = {"id": f"d{len(docs):04d}", "kind": kind, "session": session, "unix_ms": t, "text": text}
        if extra:
            d.update(extra)
        docs.append(d)
        return d["id"]

    # Interleave the exchanges and the routine ones, as a history would.
    fill = filler()
    targets = []
    for i, (user, tool, assistant, qs) in enumerate(EXCHANGES):
        s = f"s-{300 + i}"
        u = add(user, "message", s, {"role": "user"})
        tl = add(tool, "tool_call", s, {"tool": tool.split(" ", 1)[0]})
        a = add(assistant, "message", s, {"role": "assistant"})
        ids = {"user": u, "tool": tl, "assistant": a}
        for q, style, ans in qs:
            rel = {u: 1, tl: 1, a: 1}
            rel[ids[ans]] = 2
            targets.append((q, style, rel))
        for _ in range(2):
            if fill:
                fu, ft, fa = fill.pop(0)
                fs = f"s-{200 + len(docs)}"
                add(fu, "message", fs, {"role": "user"})
                add(ft, "tool_call", fs, {"tool": "shell.run"})
                add(fa, "message", fs, {"role": "assistant"})
    for fu, ft, fa in fill:
        fs = f"s-{200 + len(docs)}"
        add(fu, "message", fs, {"role": "user"})
        add(ft, "tool_call", fs, {"tool": "shell.run"})
        add(fa, "message", fs, {"role": "assistant"})

    page_docs = {}
    for page in MAN_PAGES:
        for n, c in enumerate(man_chunks(page)):
            i = add(c, "man", "", {"page": page, "chunk": n})
            page_docs.setdefault(page, []).append((i, c))
    for q, style, page, rx in MAN_QUERIES:
        rel = {}
        for i, c in page_docs[page]:
            rel[i] = 2 if re.search(rx, c) else 1
        assert any(g == 2 for g in rel.values()), (q, page)
        targets.append((q, style, rel))

    targets.extend(V2_QUERIES)
    for n, (q, style, rel) in enumerate(targets):
        queries.append({"id": f"q{n:03d}", "text": q, "style": style, "relevant": rel})

    with open(os.path.join(HERE, "docs.jsonl"), "w") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(os.path.join(HERE, "queries.jsonl"), "w") as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    with open(os.path.join(HERE, "VERSION"), "w") as f:
        f.write(f"{VERSION}\n")
    print(f"{len(docs)} documents, {len(queries)} queries")


if __name__ == "__main__":
    main()
