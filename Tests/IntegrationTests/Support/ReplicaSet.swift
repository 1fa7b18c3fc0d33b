import Foundation

/// A primary with streaming replicas made by `pg_basebackup -R` (scripts/pg-cluster.sh replica).
final class ReplicaSet: @unchecked Sendable {
    let primary: TestCluster
    let replicas: [TestCluster]

    init(replicas count: Int) throws {
        primary = try TestCluster()
        var made: [TestCluster] = []
        for _ in 0..<count {
            let replica = TestCluster(unstartedOnPort: freeLowPort())
            try replica.makeReplica(of: primary)
            made.append(replica)
        }
        replicas = made
    }

    func destroy() {
        for replica in replicas { replica.destroy() }
        primary.destroy()
    }

    /// `[[databases]]` entries for database `app`: the primary and each replica.
    func databases(primaryRole: String = "primary", replicaRole: String = "replica", extra: String = "") -> String {
        var text = """
            [[databases]]
            name = "app"
            host = "127.0.0.1"
            port = \(primary.port)
            role = "\(primaryRole)"
            \(extra)

            """
        for replica in replicas {
            text += """
                [[databases]]
                name = "app"
                host = "127.0.0.1"
                port = \(replica.port)
                role = "\(replicaRole)"
                \(extra)

                """
        }
        return text
    }

    /// Waits until every replica has replayed what the primary has written so far.
    func waitForReplay() throws {
        let target = try primary.psql("SELECT pg_current_wal_lsn()")
        for replica in replicas {
            var replayed = false
            for _ in 0..<200 where !replayed {
                replayed = try replica.psql("SELECT pg_last_wal_replay_lsn() >= '\(target)'::pg_lsn") == "t"
                if !replayed { usleep(50_000) }
            }
            guard replayed else {
                throw PQError(description: "replica on port \(replica.port) did not replay up to \(target): at \(try replica.psql("SELECT pg_last_wal_replay_lsn()"))")
            }
        }
    }
}

extension TestCluster {
    func makeReplica(of primary: TestCluster) throws {
        let result = try runCommand("/bin/bash", [repositoryRoot.appendingPathComponent("scripts/pg-cluster.sh").path, "replica", directory, String(port), String(primary.port)])
        guard result.status == 0 else { throw PQError(description: "pg-cluster.sh replica: \(result.stderr)") }
    }

    func promote() throws {
        let result = try runCommand("/bin/bash", [repositoryRoot.appendingPathComponent("scripts/pg-cluster.sh").path, "promote", directory])
        guard result.status == 0 else { throw PQError(description: "pg-cluster.sh promote: \(result.stderr)") }
    }
}
