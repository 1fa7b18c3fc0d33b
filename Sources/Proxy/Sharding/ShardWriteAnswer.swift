import NIOCore

/// The one answer to a write every shard ran: RETURNING rows of all shards, and the command
/// tag with the shards' counts added up (`INSERT 0 5`, `UPDATE 12`); a tag without a count (DDL)
/// as the shards gave it.
enum ShardWriteAnswer {
    static func merge(_ answers: [ShardAnswer], into out: inout ByteBuffer) {
        if let described = answers.first(where: { !$0.fields.isEmpty }) {
            out.writeRowDescription(fields: described.fields)
            for answer in answers {
                for row in answer.rows { out.writeDataRow(values: row) }
            }
        }
        out.writeCommandComplete(tag(answers.map(\.commandTag)))
    }

    /// `INSERT 0 2` and `INSERT 0 3` make `INSERT 0 5`; tags that differ in words or have no
    /// count are left as the first shard's.
    static func tag(_ tags: [String]) -> String {
        guard let first = tags.first else { return "" }
        var words = first.split(separator: " ").map(String.init)
        guard let last = words.last, Int64(last) != nil else { return first }
        let prefix = words.dropLast()
        var total: Int64 = 0
        for tag in tags {
            let parts = tag.split(separator: " ").map(String.init)
            guard parts.dropLast() == prefix, let count = parts.last.flatMap({ Int64($0) }) else { return first }
            total = total &+ count
        }
        words[words.count - 1] = String(total)
        return words.joined(separator: " ")
    }
}
