/* Lifecycle through s6 (DESIGN.md, "Parts": supervise): one s6 service
 * directory per instance under the run directory, s6-svscan started on
 * demand, readiness through s6's notification-fd, logs through s6-log.
 * (Being built: see issue 4.) */
#pragma once
