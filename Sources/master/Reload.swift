// Reload: on SIGHUP master rereads main.cf and master.cf and replaces its
// service instances. Listening descriptors of endpoints that stay are
// kept (clients queued on them are not lost); endpoints that go are
// closed. Old processes are not killed: master closes their status pipe,
// so an idle one exits at once and a busy one after its client
// (established sessions survive). New processes start on demand.
import Glibc
import Util
import Global

extension MasterProcess {
    func reload() {
        let newConfig: MailConfig
        let specs: [ServiceSpec]
        do {
            newConfig = try MailConfig.load(directory: configDirectory, programName: "master")
            let masterFile = try MasterConfigFile.load(path: configDirectory + "/master.cf")
            specs = try ServiceTable.build(master: masterFile, config: newConfig, verbose: verbose)
        } catch {
            MailLog.warning("reload failed, configuration unchanged: \(error.postfixText)")
            return
        }
        config = newConfig
        MailLog.configure(program: "master", config: config)
        applyConfig()
        MailLog.info("reload -- version \(MasterMain.version), configuration \(configDirectory)")
        generation += 1
        var pool: [String: [Int32]] = [:]
        var oldEndpoints: [String: EndpointSpec] = [:]
        for service in services {
            retire(service)
            pool[service.spec.endpoint.identity] = service.listenFDs
            oldEndpoints[service.spec.endpoint.identity] = service.spec.endpoint
        }
        services = []
        // Endpoints that no new service uses go first, so a path that
        // changes type is free before it is created again.
        let wanted = Set(specs.map { $0.endpoint.identity })
        for (identity, fds) in pool where !wanted.contains(identity) {
            for fd in fds { close(fd) }
            if let endpoint = oldEndpoints[identity] { Endpoints.remove(endpoint) }
            pool[identity] = nil
        }
        startServices(specs, pool: &pool, fatalErrors: false)
    }

    /// Detaches a service's processes: they finish and exit on their own.
    func retire(_ service: ServiceInstance) {
        loop.unwatch(service.statusRead)
        if service.listening { for fd in service.listenFDs { loop.unwatch(fd) } }
        service.listening = false
        for timer in [service.wakeupTimer, service.throttleTimer, service.limitTimer].compactMap({ $0 }) {
            loop.cancelTimer(timer)
        }
        close(service.statusRead)
        close(service.statusWrite)
        service.page.release()
        for pid in service.children.keys { retiredChildren[pid] = service.spec.path }
        service.children = [:]
    }
}
