/*
 * client/desk/page_signin.c - (being written)
 */
#include "desk_int.h"
