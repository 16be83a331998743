/* the desk's script: written by the desk's builders */
