/*
 * client/desk/session.c - (being written)
 */
#include "desk_int.h"
