import Network
import SamtaleKit

/// `NWPathMonitor` -> SamtaleKit's `NetworkPath` -> `CallModel.networkPath` (which decides
/// whether the core must hear of it).
final class NetworkMonitor: @unchecked Sendable {
    private let monitor = NWPathMonitor()
    private let queue = DispatchQueue(label: "samtale-network")

    func start(_ changed: @escaping @MainActor @Sendable (NetworkPath) -> Void) {
        monitor.pathUpdateHandler = { path in
            let first = path.availableInterfaces.first
            let kind: NetworkPath.Kind? = first.map {
                switch $0.type {
                case .wifi: return .wifi
                case .cellular: return .cellular
                case .wiredEthernet: return .wired
                default: return .other
                }
            }
            let p = NetworkPath(satisfied: path.status == .satisfied, interface: first?.name, kind: kind,
                                ipv4: path.supportsIPv4, ipv6: path.supportsIPv6,
                                gateways: path.gateways.map { "\($0)" })
            DispatchQueue.main.async { MainActor.assumeIsolated { changed(p) } }
        }
        monitor.start(queue: queue)
    }

    func stop() {
        monitor.cancel()
    }
}
