/// The phone's network as `NWPathMonitor` reports it, reduced to what tells one network from
/// another. The app's monitor fills it from `NWPath` (`status == .satisfied`,
/// `availableInterfaces.first`, `supportsIPv4/IPv6`, `gateways`).
public struct NetworkPath: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case wifi, cellular, wired, other }

    public var satisfied: Bool
    /// The interface used first (`en0`, `pdp_ip0`).
    public var interface: String?
    public var kind: Kind?
    public var ipv4: Bool
    public var ipv6: Bool
    /// The gateways' addresses as text (a new Wi-Fi has new ones even on the same interface).
    public var gateways: [String]

    public init(satisfied: Bool, interface: String? = nil, kind: Kind? = nil, ipv4: Bool = false,
                ipv6: Bool = false, gateways: [String] = []) {
        self.satisfied = satisfied
        self.interface = interface
        self.kind = kind
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.gateways = gateways
    }
}

/// When to call `Samtale.networkChanged()` (so the core moves the call to the new network at
/// once instead of waiting for its time-outs): when the usable network is another one than
/// before (Wi-Fi to mobile data, another Wi-Fi, IPv6 appearing), and when a network comes back
/// after none. The first network seen is not a change, nor is losing the network (the core
/// notices that itself and shows it). The same rule as the Android app's `NetworkWatcher`.
public struct NetworkChangeFilter: Sendable {
    private var last: NetworkPath?
    private var lost = false

    public init() {}

    /// `true`: tell the core.
    public mutating func update(_ path: NetworkPath) -> Bool {
        guard path.satisfied else {
            if last != nil { lost = true }
            return false
        }
        var identity = path
        identity.satisfied = true
        defer {
            last = identity
            lost = false
        }
        guard let before = last else { return false }
        return lost || before != identity
    }
}
