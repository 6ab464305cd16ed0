//! MITRE ATT&CK in words, with what to do.
//!
//! Why: rules carry ATT&CK tags (`attack.credential_access`, `attack.t1003.001`), which mean
//! nothing to a hospital IT team. This table turns the 14 enterprise tactics into words and a
//! sentence on why each matters in a hospital, and gives a first recommendation for common
//! techniques, so SigmaHQ rules without our `wardwatch:` fields still tell people what to do.
//!
//! References: <https://attack.mitre.org/tactics/enterprise/>,
//! <https://attack.mitre.org/techniques/enterprise/>.

/// One ATT&CK enterprise tactic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tactic {
    /// ATT&CK short name (`credential-access`), what incidents store.
    pub name: &'static str,
    /// In words (`credential access`).
    pub words: &'static str,
    /// Why it matters in a hospital, one sentence.
    pub why: &'static str,
    /// What to do first when a rule of this tactic fires and says nothing itself.
    pub recommendation: &'static str,
}

/// The 14 enterprise tactics in kill-chain order.
pub const TACTICS: &[Tactic] = &[
    Tactic {
        name: "reconnaissance",
        words: "reconnaissance",
        why: "Someone is studying the hospital's systems or staff before an attack.",
        recommendation: "Note the source and watch for follow-up activity from it.",
    },
    Tactic {
        name: "resource-development",
        words: "resource development",
        why: "An attacker is preparing infrastructure or accounts to use against the hospital.",
        recommendation: "Block the named infrastructure at the proxy and mail gateway.",
    },
    Tactic {
        name: "initial-access",
        words: "initial access",
        why: "An attacker may have got a first foothold inside the hospital network.",
        recommendation: "Find how the attacker got in (mail, VPN, exposed service) and close that door.",
    },
    Tactic {
        name: "execution",
        words: "execution",
        why: "Attacker code ran on a hospital machine.",
        recommendation: "Isolate the host from the network and collect the running processes before rebooting.",
    },
    Tactic {
        name: "persistence",
        words: "persistence",
        why: "The attacker arranged to come back after a reboot or a password change.",
        recommendation: "Remove the autostart entry, service, task or account the attacker added, and check for others.",
    },
    Tactic {
        name: "privilege-escalation",
        words: "privilege escalation",
        why: "The attacker is gaining administrator rights, which open every clinical system.",
        recommendation: "Check which accounts gained rights and remove rights that were not approved.",
    },
    Tactic {
        name: "defense-evasion",
        words: "defense evasion",
        why: "The attacker is hiding or switching off the protections that would warn us.",
        recommendation: "Re-enable the disabled protection and treat the host as compromised.",
    },
    Tactic {
        name: "credential-access",
        words: "credential access",
        why: "Stolen passwords let the attacker log on anywhere the user can, including patient records.",
        recommendation: "Reset the passwords of every account used on the host and end their sessions.",
    },
    Tactic {
        name: "discovery",
        words: "discovery",
        why: "The attacker is mapping the network to find valuable systems such as the EPR and PACS.",
        recommendation: "Check which account ran the queries and whether that was expected.",
    },
    Tactic {
        name: "lateral-movement",
        words: "lateral movement",
        why: "The attack is spreading from machine to machine.",
        recommendation: "Isolate the source and target hosts and block the account used to move.",
    },
    Tactic {
        name: "collection",
        words: "collection",
        why: "Data, possibly patient data, is being gathered for theft.",
        recommendation: "Find what was collected and preserve the evidence for the privacy officer.",
    },
    Tactic {
        name: "command-and-control",
        words: "command and control",
        why: "A machine is taking orders from an attacker outside the hospital.",
        recommendation: "Block the remote address at the firewall and isolate the host.",
    },
    Tactic {
        name: "exfiltration",
        words: "exfiltration",
        why: "Data may be leaving the hospital, which can be a reportable data breach.",
        recommendation: "Block the destination, estimate what left, and inform the privacy officer (DPO).",
    },
    Tactic {
        name: "impact",
        words: "impact",
        why: "Systems or data are being destroyed or encrypted; care processes may stop.",
        recommendation: "Disconnect affected systems now, start downtime procedures and protect the backups.",
    },
];

/// One ATT&CK technique with a first recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Technique {
    /// `T1003.001`.
    pub id: &'static str,
    pub name: &'static str,
    pub recommendation: &'static str,
}

/// Common techniques in hospital incidents. Sub-techniques fall back to their parent.
pub const TECHNIQUES: &[Technique] = &[
    Technique {
        id: "T1059",
        name: "Command and Scripting Interpreter",
        recommendation: "Review the command that ran and isolate the host if it was not an administrator's work.",
    },
    Technique {
        id: "T1059.001",
        name: "PowerShell",
        recommendation: "Review the PowerShell command line; if it downloads or decodes code, isolate the host and collect the script.",
    },
    Technique {
        id: "T1003",
        name: "OS Credential Dumping",
        recommendation: "Treat every password used on the host as stolen: reset them, starting with administrators.",
    },
    Technique {
        id: "T1003.001",
        name: "LSASS Memory",
        recommendation: "Isolate the host and reset the passwords of every account that logged on to it since the last reboot, administrators first.",
    },
    Technique {
        id: "T1021.002",
        name: "SMB/Windows Admin Shares",
        recommendation: "Check the account that used the admin share; block it and isolate both hosts if the use was not planned.",
    },
    Technique {
        id: "T1569.002",
        name: "Service Execution",
        recommendation: "Look at the service that ran (PsExec and the like); remove it and find which host and account started it.",
    },
    Technique {
        id: "T1490",
        name: "Inhibit System Recovery",
        recommendation: "Disconnect the host now: deleting shadow copies usually comes minutes before encryption. Check that backups are offline and intact.",
    },
    Technique {
        id: "T1486",
        name: "Data Encrypted for Impact",
        recommendation: "Disconnect affected hosts, start downtime procedures, protect backups and call your incident response partner.",
    },
    Technique {
        id: "T1110",
        name: "Brute Force",
        recommendation: "Block the source address and check whether any of the tried accounts logged on successfully.",
    },
    Technique {
        id: "T1110.003",
        name: "Password Spraying",
        recommendation: "Block the source address, check every account that logged on successfully from it, and enforce multi-factor authentication.",
    },
    Technique {
        id: "T1078",
        name: "Valid Accounts",
        recommendation: "Confirm with the account owner that the logon was theirs; if not, disable the account and reset its password.",
    },
    Technique {
        id: "T1136",
        name: "Create Account",
        recommendation: "Check that the new account was requested; if not, disable it and find who created it.",
    },
    Technique {
        id: "T1136.001",
        name: "Local Account",
        recommendation: "Check that the new local account was requested (change ticket); if not, disable it and review the creator's activity.",
    },
    Technique {
        id: "T1098",
        name: "Account Manipulation",
        recommendation: "Undo the group or permission change unless it was approved, and review the account that made it.",
    },
    Technique {
        id: "T1566",
        name: "Phishing",
        recommendation: "Remove the mail from every mailbox, block the sender and links, and find who clicked.",
    },
    Technique {
        id: "T1566.001",
        name: "Spearphishing Attachment",
        recommendation: "Remove the mail from every mailbox, block the attachment hash and check who opened it.",
    },
    Technique {
        id: "T1566.002",
        name: "Spearphishing Link",
        recommendation: "Remove the mail from every mailbox, block the link at the proxy and check who opened it.",
    },
    Technique {
        id: "T1204",
        name: "User Execution",
        recommendation: "Ask the user what they opened, and check the host for what ran afterwards.",
    },
    Technique {
        id: "T1204.002",
        name: "Malicious File",
        recommendation: "Collect the file the user opened, block its hash and check other mailboxes and hosts for it.",
    },
    Technique {
        id: "T1547.001",
        name: "Registry Run Keys / Startup Folder",
        recommendation: "Remove the autostart entry and the file it starts, then check the host for other persistence.",
    },
    Technique {
        id: "T1053.005",
        name: "Scheduled Task",
        recommendation: "Review the scheduled task; delete it if nobody in IT created it and check what it ran.",
    },
    Technique {
        id: "T1562.001",
        name: "Disable or Modify Tools",
        recommendation: "Re-enable the antivirus or EDR that was switched off and scan the host fully.",
    },
    Technique {
        id: "T1070.001",
        name: "Clear Windows Event Logs",
        recommendation: "Treat the host as compromised: clearing logs hides what happened. Collect what logs remain elsewhere.",
    },
    Technique {
        id: "T1105",
        name: "Ingress Tool Transfer",
        recommendation: "Block the download address at the proxy and collect the downloaded file.",
    },
    Technique {
        id: "T1218.011",
        name: "Rundll32",
        recommendation: "Review what rundll32 loaded; isolate the host if the DLL is not a known application's.",
    },
    Technique {
        id: "T1047",
        name: "Windows Management Instrumentation",
        recommendation: "Check which account ran WMI commands on which hosts and whether an administrator did so.",
    },
    Technique {
        id: "T1543.003",
        name: "Windows Service",
        recommendation: "Review the new service and its program; remove it if it was not installed by IT.",
    },
    Technique {
        id: "T1550.002",
        name: "Pass the Hash",
        recommendation: "Reset the password of the account used (twice for krbtgt-like accounts) and isolate the source host.",
    },
    Technique {
        id: "T1558.003",
        name: "Kerberoasting",
        recommendation: "Give service accounts long random passwords (or gMSA) and reset those that were requested.",
    },
    Technique {
        id: "T1087",
        name: "Account Discovery",
        recommendation: "Check which account listed users and groups and whether that was expected.",
    },
    Technique {
        id: "T1018",
        name: "Remote System Discovery",
        recommendation: "Check which account scanned for machines and whether that was expected.",
    },
    Technique {
        id: "T1482",
        name: "Domain Trust Discovery",
        recommendation: "Check which account queried domain trusts; attackers do this before moving to other domains.",
    },
    Technique {
        id: "T1027",
        name: "Obfuscated Files or Information",
        recommendation: "Decode the obfuscated command or file to see what it does, and isolate the host if it is malicious.",
    },
    Technique {
        id: "T1112",
        name: "Modify Registry",
        recommendation: "Review the registry change and revert it if nobody in IT made it.",
    },
    Technique {
        id: "T1071",
        name: "Application Layer Protocol",
        recommendation: "Block the remote address and domain, and find other hosts that talked to it.",
    },
    Technique {
        id: "T1048",
        name: "Exfiltration Over Alternative Protocol",
        recommendation: "Block the destination, estimate what left and inform the privacy officer (DPO).",
    },
    Technique {
        id: "T1567",
        name: "Exfiltration Over Web Service",
        recommendation: "Block the cloud service upload, estimate what left and inform the privacy officer (DPO).",
    },
];

/// The tactic named by a short name (`credential-access`), a tag (`attack.credential_access`)
/// or words (`credential access`).
pub fn tactic(name_or_tag: &str) -> Option<&'static Tactic> {
    let lower = name_or_tag.trim().to_ascii_lowercase();
    let bare = lower.strip_prefix("attack.").unwrap_or(&lower);
    let norm = bare.replace(['_', ' '], "-");
    TACTICS.iter().find(|t| t.name == norm)
}

/// The tactics among ATT&CK `tags`, in tag order, without repeats.
pub fn tactics_of(tags: &[String]) -> Vec<&'static Tactic> {
    let mut out: Vec<&'static Tactic> = Vec::new();
    for t in tags.iter().filter(|t| t.starts_with("attack.")) {
        if let Some(t) = tactic(t)
            && !out.contains(&t)
        {
            out.push(t);
        }
    }
    out
}

/// The technique `id` (`T1003.001`, any case), or its parent (`T1003`) when the
/// sub-technique is not in the table.
pub fn technique(id: &str) -> Option<&'static Technique> {
    let upper = id.trim().to_ascii_uppercase();
    let upper = upper.strip_prefix("ATTACK.").unwrap_or(&upper);
    TECHNIQUES.iter().find(|t| t.id == upper).or_else(|| {
        let parent = upper.split('.').next()?;
        TECHNIQUES.iter().find(|t| t.id == parent)
    })
}

/// The first recommendation the table has for `techniques` (most specific first), else for
/// `tactics`.
pub fn recommendation(techniques: &[String], tactics: &[String]) -> Option<&'static str> {
    techniques
        .iter()
        .find_map(|t| technique(t))
        .map(|t| t.recommendation)
        .or_else(|| {
            tactics
                .iter()
                .find_map(|t| tactic(t))
                .map(|t| t.recommendation)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tactics_from_tags_in_words() {
        let tags = vec![
            "attack.credential_access".to_string(),
            "attack.t1003.001".to_string(),
            "attack.lateral-movement".to_string(),
            "attack.credential_access".to_string(),
        ];
        let t = tactics_of(&tags);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].words, "credential access");
        assert_eq!(t[1].name, "lateral-movement");
        assert_eq!(TACTICS.len(), 14);
    }

    #[test]
    fn techniques_fall_back_to_parent_and_tactics() {
        assert_eq!(technique("t1003.001").unwrap().name, "LSASS Memory");
        assert_eq!(technique("T1059.003").unwrap().id, "T1059");
        assert!(technique("T9999").is_none());
        let r = recommendation(&["T9999".into()], &["impact".into()]).unwrap();
        assert!(r.contains("downtime"));
        for id in [
            "T1059.001",
            "T1003.001",
            "T1021.002",
            "T1569.002",
            "T1490",
            "T1486",
            "T1110.003",
            "T1078",
            "T1136.001",
            "T1098",
            "T1566.001",
            "T1566.002",
            "T1204.002",
            "T1547.001",
            "T1053.005",
            "T1562.001",
            "T1070.001",
            "T1105",
            "T1218.011",
            "T1047",
            "T1543.003",
            "T1550.002",
            "T1558.003",
            "T1087",
            "T1018",
            "T1482",
            "T1027",
            "T1112",
            "T1071",
            "T1048",
            "T1567",
        ] {
            assert_eq!(technique(id).map(|t| t.id), Some(id), "{id}");
        }
    }
}
