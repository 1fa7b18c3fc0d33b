import NIOCore

extension ChannelHandlerContext {
    /// Stops or resumes reading the channel, through its `autoRead` option. Pausing is rare (a
    /// client that floods while it waits for a server, back-pressure from a slow peer), so the
    /// handlers switch the option when it happens instead of sitting on the outbound path and
    /// seeing every `read()` SwiftNIO issues after each read.
    func setReading(_ on: Bool) {
        // Fails only on a closed channel, which reads nothing anyway.
        try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: on)
    }
}
