import ArgumentParser
import Dispatch
import Foundation
import Logging
import Proxy

@main
struct PgProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgproxy",
        abstract: "A PostgreSQL connection pooler.",
        version: ProxyVersion.string,
        subcommands: [HashPasswordCommand.self])

    @Option(name: [.short, .long], help: "The server configuration file.")
    var config: String = "pgproxy.toml"

    @Option(name: [.short, .long], help: "The users file.")
    var users: String = "users.toml"

    @Flag(help: "Validate both files, print every error, and exit.")
    var check = false

    func run() async throws {
        let loaded: ProxyConfig
        do {
            loaded = try ConfigLoader.load(configPath: config, usersPath: users)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        if check {
            print("\(config) and \(users) are valid: \(Set(loaded.databases.map(\.name)).count) database(s) on \(loaded.databases.count) host(s), \(loaded.users.count) user(s)")
            return
        }
        let level = Logger.Level(rawValue: loaded.general.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "pgproxy")
        let server: ProxyServer
        do {
            server = try ProxyServer(config: loaded, logger: logger)
        } catch {
            logger.critical("could not start the event loops: \(error)")
            throw ExitCode(1)
        }
        do {
            try await server.start()
        } catch {
            if error is PluginLoadError {
                logger.critical("\(error)")
            } else {
                logger.critical("could not listen on \(loaded.general.host):\(loaded.general.port): \(error)")
            }
            throw ExitCode(1)
        }
        SignalWaiter.onEach(SIGHUP) {
            logger.info("SIGHUP received: reloading \(config) and \(users)")
            server.reload()
        }
        // Either a signal stops the server, or the admin console's SHUTDOWN already did.
        Task {
            let signal = await SignalWaiter.next([SIGTERM, SIGINT])
            logger.info("received signal \(signal)")
            await server.shutdown()
        }
        await server.waitUntilStopped()
    }
}

/// Turns signals into async values or callbacks.
enum SignalWaiter {
    nonisolated(unsafe) private static var retained: [any DispatchSourceSignal] = []

    static func onEach(_ number: Int32, _ handler: @escaping @Sendable () -> Void) {
        Foundation.signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: DispatchQueue(label: "pgproxy.signal.\(number)"))
        source.setEventHandler(handler: handler)
        source.resume()
        retained.append(source)
    }

    static func next(_ signals: [Int32]) async -> Int32 {
        await withCheckedContinuation { continuation in
            let queue = DispatchQueue(label: "pgproxy.signals")
            var sources: [any DispatchSourceSignal] = []
            var resumed = false
            for number in signals {
                Foundation.signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler {
                    guard !resumed else { return }
                    resumed = true
                    sources.forEach { $0.cancel() }
                    continuation.resume(returning: number)
                }
                source.resume()
                sources.append(source)
            }
        }
    }
}
