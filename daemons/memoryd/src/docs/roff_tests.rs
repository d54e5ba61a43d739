//! Roff to text on real snippets: e2fsprogs' `chattr.1` (man macros), OpenSSH's `ssh.1`
//! (mdoc), a pod2man page (conditionals and strings), a tbl table and groff escapes.
#![allow(clippy::unwrap_used)]

use super::*;

fn section<'a>(p: &'a Page, heading: &str) -> &'a str {
    &p.sections
        .iter()
        .find(|s| s.heading == heading)
        .unwrap_or_else(|| panic!("no {heading} in {p:#?}"))
        .text
}

const CHATTR: &str = r#".\" -*- nroff -*-
.TH CHATTR 1 "February 2023" "E2fsprogs version 1.47.0"
.SH NAME
chattr \- change file attributes on a Linux file system
.SH SYNOPSIS
.B chattr
[
.B \-RVf
]
[
.B \-v
.I version
]
.I files...
.SH DESCRIPTION
.B chattr
changes the file attributes on a Linux file system.
.PP
The format of a symbolic
.I mode
is
.BR +-= [ aAcCdDeFijmPsStTux ].
.PP
The letters
.RB ' aAcCdDeFijmPsStTux '
select the new attributes for the files:
append only
.RB ( a ),
immutable
.RB ( i ),
and direct access for files
.RB ( x ).
.SH OPTIONS
.TP
.B \-R
Recursively change attributes of directories and their contents.
.TP
.BI \-v " version"
Set the file's version/generation number.
.SH ATTRIBUTES
A file with the 'i' attribute cannot be modified: it cannot be deleted or
renamed, no link can be created to this file, most of the file's metadata
can not be modified, and the file can not be opened in write mode.
Only the superuser or a process possessing the CAP_LINUX_IMMUTABLE
capability can set or clear this attribute.
"#;

#[test]
fn man_macros_become_sections_of_plain_text() {
    let p = to_text(CHATTR);
    assert_eq!(p.title, Some(("CHATTR".into(), "1".into())));
    let headings: Vec<&str> = p.sections.iter().map(|s| s.heading.as_str()).collect();
    assert_eq!(
        headings,
        vec!["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ATTRIBUTES"]
    );
    assert_eq!(
        p.summary().unwrap(),
        "chattr - change file attributes on a Linux file system"
    );
    assert_eq!(
        section(&p, "SYNOPSIS"),
        "chattr [ -RVf ] [ -v version ] files..."
    );
    let desc = section(&p, "DESCRIPTION");
    assert!(
        desc.starts_with("chattr changes the file attributes"),
        "{desc}"
    );
    assert!(desc.contains("is +-=[aAcCdDeFijmPsStTux]."), "{desc}");
    assert!(desc.contains("immutable (i), and direct access"), "{desc}");
    assert!(desc.contains("\n\nThe letters"), "paragraphs: {desc}");
    // .TP: the tag on a line of its own, then its paragraph.
    let opts = section(&p, "OPTIONS");
    assert!(opts.starts_with("-R\nRecursively change"), "{opts}");
    assert!(opts.contains("-v version\nSet the file's"), "{opts}");
    for s in &p.sections {
        assert!(!s.text.contains('\\'), "escape left in {s:?}");
        assert!(
            !s.text.lines().any(|l| l.starts_with('.')),
            "request left in {s:?}"
        );
    }
}

const SSH: &str = r#".\" $OpenBSD: ssh.1,v 1.433 2022/11/28 01:37:36 djm Exp $
.Dd $Mdocdate: November 28 2022 $
.Dt SSH 1
.Os
.Sh NAME
.Nm ssh
.Nd OpenSSH remote login client
.Sh SYNOPSIS
.Nm ssh
.Op Fl 46AaCfGgKkMNnqsTtVvXxYy
.Op Fl B Ar bind_interface
.Op Fl D Oo Ar bind_address : Oc Ns Ar port
.Ar destination
.Sh DESCRIPTION
.Nm
(SSH client) is a program for logging into a remote machine.
See
.Xr ssh_config 5 .
.Bl -tag -width Ds
.It Fl 4
Forces
.Nm
to use IPv4 addresses only.
.El
"#;

#[test]
fn mdoc_macros_are_read_too() {
    let p = to_text(SSH);
    assert_eq!(p.title, Some(("SSH".into(), "1".into())));
    assert_eq!(p.summary().unwrap(), "ssh - OpenSSH remote login client");
    let syn = section(&p, "SYNOPSIS");
    assert!(syn.contains("ssh [-46AaCfGgKkMNnqsTtVvXxYy]"), "{syn}");
    assert!(syn.contains("[-B bind_interface]"), "{syn}");
    assert!(syn.contains("destination"), "{syn}");
    let desc = section(&p, "DESCRIPTION");
    assert!(desc.starts_with("ssh (SSH client) is a program"), "{desc}");
    assert!(desc.contains("See ssh_config(5)."), "{desc}");
    assert!(desc.contains("-4\nForces ssh to use IPv4"), "{desc}");
}

const POD2MAN: &str = r#".de Vb \" Begin verbatim text
.ft CW
.nf
.ne \\$1
..
.ie n \{\
.    ds C` ""
.    ds C' ""
'br\}
.el\{\
.    ds C`
.    ds C'
'br\}
.if t .sp 2
.TH PERLTHING 1 "2023-01-01" "perl v5.36.0" "Perl Programmers Reference Guide"
.SH "NAME"
perlthing \- a \*(C`thing\*(C' for Perl
.SH "DESCRIPTION"
.IX Header "DESCRIPTION"
Use \f(CW\*(C`thing\*(C'\fR like this:
.PP
.Vb 1
\&    my $x = thing();
.Ve
.if n .sp
Done.
"#;

#[test]
fn definitions_conditionals_and_strings_are_handled_as_nroff_would() {
    let p = to_text(POD2MAN);
    assert_eq!(p.summary().unwrap(), "perlthing - a \"thing\" for Perl");
    let desc = section(&p, "DESCRIPTION");
    assert!(desc.starts_with("Use \"thing\" like this:"), "{desc}");
    assert!(desc.contains("my $x = thing();"), "{desc}");
    assert!(desc.contains("Done."), "{desc}");
    assert!(!desc.contains("Header"), ".IX is an index entry: {desc}");
    assert!(!desc.contains("ne "), "the .de body is skipped: {desc}");
}

#[test]
fn escapes_and_special_characters_become_plain_text() {
    let defined = HashMap::new();
    let cases = [
        (r"\fBbold\fR and \fIitalic\fP", "bold and italic"),
        (r"a\-b \(em c \[em] d", "a-b \u{2014} c \u{2014} d"),
        (r"\(lqquoted\(rq \*(lqtoo\*(rq", "\"quoted\" \"too\""),
        (r"\s-1SMALL\s0 \s+2big\s[0]", "SMALL big"),
        (r"x\h'1i'y\w'abc'z", "xyz"),
        (r"\[u00E9]t\['e] \e \\ \&.", "\u{e9}t\u{e9} \\ \\ ."),
        (r"a\ b\~c\|d\^e", "a b cde"),
        (r#"text \" a comment"#, "text "),
        (r"\f(CWcode\f[] \F[T]\m[red]x", "code x"),
        (r"\n(.g\n[x]\n+(yy", ""),
    ];
    for (src, want) in cases {
        assert_eq!(unescape(src, &defined), want, "{src}");
    }
}

#[test]
fn tables_keep_their_cells_not_their_format() {
    let src = ".TH T 1\n.SH TABLE\n.TS\nallbox;\nl l.\nName\tMeaning\n_\ni\timmutable\nT{\nlong cell\nT}\tx\n.TE\nafter\n";
    let p = to_text(src);
    let t = section(&p, "TABLE");
    assert!(t.contains("Name  Meaning\ni  immutable"), "{t}");
    assert!(!t.contains("allbox") && !t.contains("l l."), "{t}");
    assert!(t.ends_with("after"), "{t}");
}

#[test]
fn a_so_page_is_a_redirect() {
    assert_eq!(so_target(".so man1/gzip.1\n"), Some("man1/gzip.1"));
    assert_eq!(
        so_target(".\\\" alias\n.so man3/printf.3\n\n"),
        Some("man3/printf.3")
    );
    assert_eq!(so_target(".TH X 1\n.so man1/x.1\n"), None);
    assert_eq!(so_target(CHATTR), None);
}

#[test]
fn heading_on_the_next_line_and_continuations() {
    let p = to_text(".TH X 1\n.SH\nNAME\nx \\- does \\c\n.B things\n");
    assert_eq!(p.sections[0].heading, "NAME");
    assert_eq!(p.sections[0].text, "x - does things");
}
