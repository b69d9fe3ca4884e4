//! What Linux says about the engine's processes: resident memory (`/proc/PID/status`), CPU time
//! (`/proc/PID/stat`) and the machine's load (`/proc/loadavg`), the last because the machine
//! these figures come from is shared.

/// `VmRSS` of a process, in KiB; `None` where `/proc` is not there or the process is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    rss_of_status(&status)
}

fn rss_of_status(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User and system CPU time of a process so far, in ms (clock ticks of 10 ms, the Linux
/// default).
pub fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_ms_of_stat(&stat)
}

fn cpu_ms_of_stat(stat: &str) -> Option<f64> {
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10.0)
}

/// The one-minute load average.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        let stat = "4242 (bench (x)) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 4";
        assert_eq!(cpu_ms_of_stat(stat), Some(1750.0));
        assert_eq!(cpu_ms_of_stat("garbage"), None);
    }

    #[test]
    fn rss_is_the_vmrss_line() {
        let status = "Name:\tworkflow-engine\nVmPeak:\t  900000 kB\nVmRSS:\t   51234 kB\n";
        assert_eq!(rss_of_status(status), Some(51234));
        assert_eq!(rss_of_status("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_is_readable() {
        let pid = std::process::id();
        assert!(rss_kib(pid).is_some_and(|kib| kib > 0));
        assert!(cpu_ms(pid).is_some());
    }
}
