/*
 * client/desk/page_reports.c - (being written)
 */
#include "desk_int.h"
