/*
 * client/audit/audit_int.h - shared by the files of client/audit/ only.
 */
#ifndef CHS_CLIENT_AUDIT_AUDIT_INT_H
#define CHS_CLIENT_AUDIT_AUDIT_INT_H

#include "client/audit/event.h"
#include "client/records/views.h"
#include "client/records/writer.h"
#include "client/util/util.h"

#endif /* CHS_CLIENT_AUDIT_AUDIT_INT_H */
