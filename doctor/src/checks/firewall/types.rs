//! The evaluator's vocabulary: three-valued matches, the address family,
//! the transport protocol and the probe packet.

/// A three-valued match result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tri {
    No,
    Maybe,
    Yes,
}

impl Tri {
    pub(crate) fn from(b: bool) -> Tri {
        if b { Tri::Yes } else { Tri::No }
    }
    pub(crate) fn and(self, other: Tri) -> Tri {
        self.min(other)
    }
    pub(crate) fn not(self) -> Tri {
        match self {
            Tri::No => Tri::Yes,
            Tri::Maybe => Tri::Maybe,
            Tri::Yes => Tri::No,
        }
    }
    /// True if any is true, false only if all are false.
    pub(crate) fn any(items: impl IntoIterator<Item = Tri>) -> Tri {
        items.into_iter().fold(Tri::No, Tri::max)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Ipv {
    V4,
    V6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum L4 {
    Tcp,
    Udp,
}

impl L4 {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
        }
    }
}

/// The packet in question: the first packet of a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) ipv: Ipv,
    pub(crate) l4: L4,
    pub(crate) dport: u16,
    /// `None`: any source port (the attacker chooses).
    pub(crate) sport: Option<u16>,
}
