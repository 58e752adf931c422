// Spawner: starting service processes on demand (posix_spawn of
// $daemon_directory/COMMAND with the status pipe at descriptor 3, the
// endpoints at 4.. and the service's status page after them), reading
// their status records, reaping them (and taking them off the idle count),
// logging abnormal exits and throttling a service whose process dies
// before it served anyone.
import Glibc
import Util
import Global

extension MasterProcess {
    /// Polls the listening descriptors exactly when a client would find no
    /// idle process and another may be started.
    func updateListening(_ service: ServiceInstance) {
        guard isCurrent(service) else { return }
        let want = !stopping && !service.throttled && service.availableCount == 0 && !service.atProcessLimit
        if want && !service.listening {
            for fd in service.listenFDs {
                loop.watchReadable(fd) { [unowned self] in self.spawnOnDemand(service) }
            }
        } else if !want && service.listening {
            for fd in service.listenFDs { loop.unwatch(fd) }
        }
        service.listening = want
        if service.availableCount == 0 && service.atProcessLimit && !service.throttled {
            scheduleLimitCheck(service)
        }
    }

    /// A client waits and no process is idle: start one.
    func spawnOnDemand(_ service: ServiceInstance) {
        guard isCurrent(service), !service.throttled, !service.atProcessLimit, service.availableCount == 0 else {
            updateListening(service)
            return
        }
        spawn(service)
        updateListening(service)
    }

    func spawn(_ service: ServiceInstance) {
        guard let slot = service.takeSlot() else {
            MailLog.warning("service \(service.spec.key): no free process slot")
            return
        }
        var descriptors: [Int32: Int32] = [MasterProtocol.statusFD: service.statusWrite]
        for (i, fd) in service.listenFDs.enumerated() { descriptors[MasterProtocol.firstListenFD + Int32(i)] = fd }
        let pageFD = MasterProtocol.firstListenFD + Int32(service.listenFDs.count)
        descriptors[pageFD] = service.page.fd
        var environment = childEnvironment
        environment.append("GENERATION=\(service.generation)")
        environment.append("\(MasterProtocol.statusPageVariable)=\(pageFD) \(slot)")
        // Counted idle before it runs: it takes clients as soon as it can.
        service.page.setSlot(slot, .fresh)
        service.page.addIdle(1)
        do {
            let pid = try ProcessSpawner.spawn(path: service.spec.path, arguments: service.spec.arguments,
                                               environment: environment, descriptors: descriptors)
            service.children[pid] = ChildProcess(pid: pid, slot: slot)
            MailLog.debug("spawn: \(service.spec.path) pid \(pid) for \(service.spec.key)")
        } catch {
            service.page.addIdle(-1)
            service.releaseSlot(slot)
            MailLog.warning("master_spawn: exec \(service.spec.path): \(error)")
            throttle(service)
        }
    }

    /// Where status records are read into (one buffer for all pipes).
    nonisolated(unsafe) static var statusBuffer = [UInt8](repeating: 0, count: MasterProtocol.recordSize * 64)

    /// Reads status records from a service's pipe.
    func readStatus(_ service: ServiceInstance) {
        while true {
            let n = MasterProcess.statusBuffer.withUnsafeMutableBytes { read(service.statusRead, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            service.pendingStatus += MasterProcess.statusBuffer[0..<n]
            // A short read emptied the pipe (the descriptor is level
            // triggered: what comes later wakes the loop again).
            if n < MasterProcess.statusBuffer.count { break }
        }
        let size = MasterProtocol.recordSize
        var offset = 0
        while service.pendingStatus.count - offset >= size {
            let frame = service.pendingStatus[offset..<(offset + size)]
            offset += size
            // A record only says that the idle count reached or left
            // zero; the count itself is on the status page.
            if MasterProtocol.Record.decode(frame) == nil {
                MailLog.warning("master_status_event: bad status record from service \(service.spec.key)")
            }
        }
        service.pendingStatus.removeFirst(offset)
        updateListening(service)
    }

    /// Reaps every exited child.
    func reapChildren() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid < 0 && errno == EINTR { continue }
            guard pid > 0 else { return }
            childExited(pid, status: status)
        }
    }

    func childExited(_ pid: pid_t, status: Int32) {
        let exitCode = (status >> 8) & 0xFF
        let signalNumber = status & 0x7F
        let normal = signalNumber == 0 && exitCode == 0
        func report(_ path: String) {
            guard !normal, !stopping else { return }
            if signalNumber != 0 {
                MailLog.warning("process \(path) pid \(pid) killed by signal \(signalNumber)")
            } else {
                MailLog.warning("process \(path) pid \(pid) exit status \(exitCode)")
            }
        }
        if let service = services.first(where: { $0.children[pid] != nil }), let child = service.children.removeValue(forKey: pid) {
            report(service.spec.path)
            let state = service.page.slot(child.slot)
            if state.countedIdle { service.page.addIdle(-1) }
            service.releaseSlot(child.slot)
            if service.children.isEmpty { service.page.resetIdle() }
            if !normal && state == .fresh && !service.throttled && !stopping {
                throttle(service)
            }
            updateListening(service)
        } else if let path = retiredChildren.removeValue(forKey: pid) {
            report(path)
        }
    }

    /// Stops spawning for service_throttle_time after a bad start.
    func throttle(_ service: ServiceInstance) {
        guard !service.throttled else { return }
        MailLog.warning("\(service.spec.path): bad command startup -- throttling")
        service.throttled = true
        updateListening(service)
        service.throttleTimer = loop.after(Double(throttleSeconds)) { [unowned self] in
            service.throttleTimer = nil
            service.throttled = false
            self.updateListening(service)
        }
    }

    /// While every process is busy and the limit is reached, checks each
    /// second whether a client waits, and warns (at most every 5 minutes).
    func scheduleLimitCheck(_ service: ServiceInstance) {
        guard service.limitTimer == nil else { return }
        service.limitTimer = loop.after(1.0) { [unowned self] in
            service.limitTimer = nil
            guard self.isCurrent(service), service.availableCount == 0, service.atProcessLimit else { return }
            var fds = service.listenFDs.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), 0) > 0 {
                let now = EventLoop.now()
                if now - service.lastLimitWarning >= 300 {
                    service.lastLimitWarning = now
                    MailLog.warning("service \"\(service.spec.name)\" (\(service.spec.addressLabel)) has reached its process limit \"\(service.spec.maxProcesses)\": new clients may experience noticeable delays")
                }
            }
            self.scheduleLimitCheck(service)
        }
    }
}
